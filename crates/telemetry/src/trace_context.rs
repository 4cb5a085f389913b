//! W3C trace context between tracing spans and the strings that carry it (HTTP headers,
//! outbox rows, queue message attributes). Without an OpenTelemetry layer installed these
//! find no context and the callers fall back to the context they were given.
//!
//! The two directions are written here from [`TraceParent`]'s parsed parts rather than
//! through OpenTelemetry's text propagator, which would print the context, put it in a map
//! and parse it again, under a global lock, for every message the relay publishes and the
//! worker receives.
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use orderflow_core::TraceParent;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes `span` a child of the remote span `parent` names.
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
    let own = context.span().span_context().clone();
    if !own.is_valid() {
        return None;
    }
    TraceParent::parse(&format!(
        "00-{}-{}-{:02x}",
        own.trace_id(),
        own.span_id(),
        own.trace_flags().to_u8()
    ))
    .ok()
}

/// Links `batch` to `message`'s span: a batch operation names every message it carries
/// (OpenTelemetry messaging conventions), as it can be the child of only one.
pub fn link_to(batch: &tracing::Span, message: &tracing::Span) {
    let context = message.context().span().span_context().clone();
    if context.is_valid() {
        batch.add_link(context);
    }
}
