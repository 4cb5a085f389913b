//! What every request passes through: its span, its trace context, its metrics and the
//! security headers of its answer. One layer rather than one per concern, as each layer
//! costs every request a boxed future and a clone of its state.
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use orderflow_telemetry::Metrics;
use tracing::Instrument;

use crate::security_headers::{RequestPath, SecurityHeaders};
use crate::trace_context;

pub(crate) struct Edge {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) headers: SecurityHeaders,
}

pub(crate) async fn edge(
    State(edge): State<Arc<Edge>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let span = trace_context::request_span(&request, route);
    let path = RequestPath::of(request.uri().path());
    let trace = trace_context::of_request(&span, &request);
    request.extensions_mut().insert(trace.clone());
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    let took = started.elapsed();
    let headers = response.headers_mut();
    trace_context::answer(&trace, headers);
    edge.headers.apply(headers, &path);
    edge.metrics
        .http_request(method.as_str(), route, status.as_u16(), took);
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), latency = ?took, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), latency = ?took, "request finished");
        }
    });
    response
}
