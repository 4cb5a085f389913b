//! JSON log lines that name the trace and span they were written in, so a log search can
//! jump to the trace and back.
use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt;
use tracing::dispatcher::WeakDispatch;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// tracing-subscriber's JSON line (event fields flattened, the current span and its
/// fields) with `trace_id` and `span_id` first when the event happened inside a span.
pub(crate) struct JsonWithTraceIds {
    inner: Format<Json>,
    /// The subscriber this formats for, set once it is installed: span contexts are read
    /// through it (the dispatcher in force during an event is not reachable from inside).
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl JsonWithTraceIds {
    pub(crate) fn new(dispatch: Arc<OnceLock<WeakDispatch>>) -> Self {
        Self {
            inner: tracing_subscriber::fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(true),
            dispatch,
        }
    }

    fn trace_ids<S, N>(&self, ctx: &FmtContext<'_, S, N>) -> Option<String>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        let span = ctx.event_scope()?.next()?;
        let dispatch = self.dispatch.get()?.upgrade()?;
        let context = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
        let otel_span = context.span();
        let ids = otel_span.span_context();
        ids.is_valid().then(|| {
            format!(
                "\"trace_id\":\"{}\",\"span_id\":\"{}\",",
                ids.trace_id(),
                ids.span_id()
            )
        })
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        match (self.trace_ids(ctx), line.strip_prefix('{')) {
            (Some(ids), Some(rest)) => {
                writer.write_char('{')?;
                writer.write_str(&ids)?;
                writer.write_str(rest)
            }
            _ => writer.write_str(&line),
        }
    }
}
