//! The W3C trace context of each request: the caller's `traceparent` continued, or a new
//! trace. Handlers pass it on (an order's outbox entry keeps it, so the queue message and
//! the worker belong to the same trace) and every log line of the request carries its id.
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use orderflow_core::TraceParent;

pub const TRACEPARENT: &str = "traceparent";

/// Puts the request's [`TraceParent`] into its extensions and answers it in `traceresponse`
/// (W3C Trace Context level 2), so a caller without a tracer can still find its trace.
pub async fn trace_context(mut request: Request, next: Next) -> Response {
    let trace = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|raw| TraceParent::parse(raw).ok())
        .map_or_else(TraceParent::generate, |parent| parent.child());
    request.extensions_mut().insert(trace.clone());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&trace.to_string()) {
        response.headers_mut().insert("traceresponse", value);
    }
    response
}

/// The request span, named by method and route template (not the raw path, which holds ids),
/// with the trace id.
pub fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |path| path.as_str());
    let trace_id = request
        .extensions()
        .get::<TraceParent>()
        .map(|t| t.trace_id().to_owned())
        .unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), route, trace_id)
}
