//! The W3C trace context of each request: the caller's `traceparent` continued, or a new
//! trace. Handlers pass it on (an order's outbox entry keeps it, so the queue message and
//! the worker belong to the same trace) and every log line of the request carries its id.
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use orderflow_core::TraceParent;
use orderflow_telemetry::{continue_trace, traceparent_of};

/// The caller's trace context, when it sent a valid one.
fn incoming(request: &Request) -> Option<TraceParent> {
    request
        .headers()
        .get(TraceParent::NAME)
        .and_then(|v| v.to_str().ok())
        .and_then(|raw| TraceParent::parse(raw).ok())
}

/// The request span, named by method and route template (not the raw path, which holds
/// ids), a child of the caller's span when it sent a `traceparent`.
pub fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |path| path.as_str());
    let span = tracing::info_span!("request",
        otel.name = format!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = route,
        trace_id = tracing::field::Empty,
    );
    if let Some(parent) = incoming(request) {
        continue_trace(&span, &parent);
    }
    span
}

/// Runs inside the request span: puts the request's [`TraceParent`] into its extensions (the
/// request span's own context when traces are exported; else the caller's continued, or a
/// new one) and answers it in `traceresponse` (W3C Trace Context level 2).
pub async fn trace_context(mut request: Request, next: Next) -> Response {
    let span = tracing::Span::current();
    let trace = traceparent_of(&span)
        .or_else(|| incoming(&request).map(|parent| parent.child()))
        .unwrap_or_else(TraceParent::generate);
    span.record("trace_id", trace.trace_id());
    request.extensions_mut().insert(trace.clone());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&trace.to_string()) {
        response.headers_mut().insert("traceresponse", value);
    }
    response
}
