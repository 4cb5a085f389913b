use std::io::IsTerminal;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Level;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::json_lines::JsonWithTraceIds;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Flushes and stops the trace exporter when dropped: keep it until the process exits.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("flushing traces failed: {e}");
        }
    }
}

/// Whether the standard OpenTelemetry variables ask for trace export.
fn otlp_configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// With OTLP configured, a provider exporting over HTTP/protobuf under the standard `OTEL_*`
/// variables. Otherwise spans still get trace and span ids (log lines and `traceresponse`
/// name them, and the context travels with each order) but go nowhere: nothing is recorded
/// unless the caller's `traceparent` asked for it.
fn tracer_provider() -> SdkTracerProvider {
    if otlp_configured() {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(exporter) => {
                return SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .build();
            }
            Err(e) => eprintln!("OTEL_EXPORTER_OTLP_ENDPOINT: cannot export traces: {e}"),
        }
    }
    SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
        .build()
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`): JSON lines (each naming its
/// `trace_id` and `span_id` inside a span) or human-readable. With
/// `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are also exported over OTLP (HTTP/protobuf),
/// honouring the standard `OTEL_*` variables (service name, resource attributes, sampler):
/// the service's own spans, whatever `RUST_LOG` says.
pub fn init_logging(format: LogFormat) -> TelemetryGuard {
    let log_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Exporting, what is traced is the sampler's business and the log level only the logs';
    // not exporting, one filter for both, so that a quiet log level also spares the spans.
    let (everything, logs, traced) = if otlp_configured() {
        let own_spans = filter_fn(|meta| {
            meta.target().starts_with("orderflow") && *meta.level() <= Level::INFO
        });
        (None, Some(log_filter), Some(own_spans))
    } else {
        (Some(log_filter), None, None)
    };
    let provider = tracer_provider();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("orderflow"))
        .with_filter(traced);
    // Colours only for a person at a terminal, never into files or container logs.
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(everything).with(otel);
    let dispatch = Arc::new(OnceLock::new());
    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonWithTraceIds::new(dispatch.clone()))
                    .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                    .with_writer(std::io::stderr)
                    .with_filter(logs),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr)
                    .with_filter(logs),
            )
            .try_init(),
    };
    // Already initialised (tests start several apps in one process): keep the first.
    if result.is_ok() {
        tracing::dispatcher::get_default(|installed| {
            let _ = dispatch.set(installed.downgrade());
        });
    }
    TelemetryGuard { provider }
}
