//! The W3C trace context of each request (taken in [`crate::edge`]): the caller's
//! `traceparent` continued, or a new trace. Handlers pass it on (an order's outbox entry
//! keeps it, so the queue message and the worker belong to the same trace) and every log
//! line of the request carries its id.
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use orderflow_core::TraceParent;
use orderflow_telemetry::{continue_trace, traceparent_of};

/// Parsed once: a name given as `&str` is parsed again on every lookup and insert.
const TRACEPARENT: HeaderName = HeaderName::from_static(TraceParent::NAME);

/// The caller's trace context, when it sent a valid one.
fn incoming(request: &Request) -> Option<TraceParent> {
    request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|raw| TraceParent::parse(raw).ok())
}

/// The request span, named by method and route template (not the raw path, which holds
/// ids) and a child of the caller's span when it sent a `traceparent`, and the request's
/// [`TraceParent`]: the span's own context when traces are exported; else the caller's
/// continued, or a new one. Handlers take the latter from the request's extensions. The
/// caller's header is read once for both.
pub fn of_request(request: &Request, route: &str) -> (tracing::Span, TraceParent) {
    let incoming = incoming(request);
    let span = tracing::info_span!("request",
        otel.name = format!("{} {route}", request.method()),
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = route,
        trace_id = tracing::field::Empty,
    );
    if let Some(parent) = &incoming {
        continue_trace(&span, parent);
    }
    let trace = traceparent_of(&span)
        .or_else(|| incoming.map(|parent| parent.child()))
        .unwrap_or_else(TraceParent::generate);
    span.record("trace_id", trace.trace_id());
    (span, trace)
}

const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");

/// Names the request's trace in `traceresponse` (W3C Trace Context level 2).
pub fn answer(trace: &TraceParent, headers: &mut HeaderMap) {
    if let Ok(value) = HeaderValue::from_bytes(trace.as_bytes()) {
        headers.insert(TRACERESPONSE, value);
    }
}
