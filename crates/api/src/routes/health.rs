use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::dto::{Health, Readiness};
use crate::state::AppState;

/// A dependency that has not answered within this is reported down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: the process runs.
#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations",
    responses((status = 200, description = "The process is running", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: every configured dependency answers, or only optional ones are down.
#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations",
    responses(
        (status = 200, description = "Every dependency answers (status \"ok\"), or only \
            those configured optional in READINESS_OPTIONAL are down (status \"degraded\")",
            body = Readiness),
        (status = 503, description = "A required dependency is down", body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (store, cache, queue) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, state.cache.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, state.queue.depth()),
    );
    let verdict = |ok: bool| if ok { "ok" } else { "down" };
    let checks = BTreeMap::from([
        ("store", verdict(matches!(store, Ok(Ok(()))))),
        ("cache", verdict(matches!(cache, Ok(Ok(()))))),
        ("queue", verdict(matches!(queue, Ok(Ok(_))))),
    ]);
    let optional = &state.settings.readiness_optional;
    let required_up = checks
        .iter()
        .all(|(name, v)| *v == "ok" || optional.iter().any(|dep| dep.name() == *name));
    let (status, summary) = match (required_up, checks.values().all(|v| *v == "ok")) {
        (true, true) => (StatusCode::OK, "ok"),
        (true, false) => (StatusCode::OK, "degraded"),
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    (
        status,
        Json(Readiness {
            status: summary,
            checks,
        }),
    )
}

/// Prometheus metrics of this process, in the text exposition format.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format (version 0.0.4)",
        content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    orderflow_telemetry::exposition(state.metrics.registry())
}
