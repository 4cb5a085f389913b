//! W3C trace context between tracing spans and the strings that carry it (HTTP headers,
//! outbox rows, queue message attributes). Without an OpenTelemetry layer installed these
//! find no context and the callers fall back to the context they were given.
use std::collections::HashMap;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, global};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use orderflow_core::TraceParent;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes `traceparent` the propagation format (idempotent).
pub fn install_propagator() {
    global::set_text_map_propagator(TraceContextPropagator::new());
}

/// Makes `span` a child of the remote span `parent` names. `parent` is already parsed
/// and checked, so its ids are taken as they are rather than printed for the propagator to
/// parse again (a map, two strings and a lock per call, for every message the relay
/// publishes and the worker receives).
pub fn continue_trace(span: &tracing::Span, parent: &TraceParent) {
    // Nothing records the span (its level is off): it has no parent to set.
    if span.is_disabled() {
        return;
    }
    let (Ok(trace_id), Ok(span_id)) = (
        TraceId::from_hex(parent.trace_id()),
        SpanId::from_hex(parent.parent_id()),
    ) else {
        return;
    };
    let flags = if parent.is_sampled() {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let remote = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
    if remote.is_valid() {
        // Fails only for a span that already started children; ours are fresh.
        let _ = span.set_parent(Context::new().with_remote_span_context(remote));
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
