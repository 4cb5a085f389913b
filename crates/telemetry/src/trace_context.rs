//! W3C trace context between tracing spans and the strings that carry it (HTTP headers,
//! outbox rows, queue message attributes). Without an OpenTelemetry layer installed these
//! find no context and the callers fall back to the context they were given.
use std::collections::HashMap;

use opentelemetry::global;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use orderflow_core::TraceParent;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes `traceparent` the propagation format (idempotent).
pub fn install_propagator() {
    global::set_text_map_propagator(TraceContextPropagator::new());
}

/// Makes `span` a child of the remote span `parent` names.
pub fn continue_trace(span: &tracing::Span, parent: &TraceParent) {
    let carrier = HashMap::from([(TraceParent::NAME.to_owned(), parent.to_string())]);
    let parent = global::get_text_map_propagator(|propagator| propagator.extract(&carrier));
    if parent.span().span_context().is_valid() {
        // Fails only for a span that already started children; ours are fresh.
        let _ = span.set_parent(parent);
    }
}

/// The trace context naming `span` itself, when spans are exported.
pub fn traceparent_of(span: &tracing::Span) -> Option<TraceParent> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    global::get_text_map_propagator(|propagator| propagator.inject_context(&context, &mut carrier));
    carrier
        .remove(TraceParent::NAME)
        .and_then(|raw| TraceParent::parse(&raw).ok())
}

/// Links `batch` to `message`'s span: a batch operation names every message it carries
/// (OpenTelemetry messaging conventions), as it can be the child of only one.
pub fn link_to(batch: &tracing::Span, message: &tracing::Span) {
    let context = message.context().span().span_context().clone();
    if context.is_valid() {
        batch.add_link(context);
    }
}
