//! `orderflow worker`'s own HTTP port: /healthz, /readyz and /metrics, for the kubelet and
//! Prometheus (the worker serves no API).
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use orderflow_core::ports::{Queue, Store};
use orderflow_telemetry::Metrics;
use orderflow_worker::CancellationToken;
use tokio::net::TcpListener;

use crate::run::Backends;

/// A dependency that has not answered within this is reported down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Probe {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    metrics: Arc<Metrics>,
}

pub struct WorkerProbe {
    listener: TcpListener,
    router: Router,
}

pub async fn bind(address: SocketAddr, backends: &Backends) -> anyhow::Result<WorkerProbe> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("WORKER_METRICS_PORT: cannot listen on {address}"))?;
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Probe {
            store: Arc::clone(&backends.store),
            queue: Arc::clone(&backends.queue),
            metrics: Arc::clone(&backends.metrics),
        });
    Ok(WorkerProbe { listener, router })
}

impl WorkerProbe {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run(self, stop: CancellationToken) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .context("serving the worker's probes")
    }
}

/// Ready when the store and the queue answer: a worker without them can do nothing.
async fn readyz(State(probe): State<Probe>) -> impl IntoResponse {
    let (store, queue) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, probe.store.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, probe.queue.depth()),
    );
    let verdict = |ok: bool| if ok { "ok" } else { "down" };
    let (store_ok, queue_ok) = (matches!(store, Ok(Ok(()))), matches!(queue, Ok(Ok(_))));
    let status = if store_ok && queue_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "checks": { "store": verdict(store_ok), "queue": verdict(queue_ok) },
    });
    (status, axum::Json(body))
}

async fn metrics(State(probe): State<Probe>) -> impl IntoResponse {
    orderflow_telemetry::exposition(probe.metrics.registry())
}
