//! Telemetry for every orderflow command: logs and OpenTelemetry traces set up once, the
//! trace context carried between processes, spans and durations for every dependency call, and the Prometheus metrics the services export.
#![forbid(unsafe_code)]

mod instrumented;
mod json_lines;
mod logging;
mod metrics;
mod trace_context;

pub use instrumented::{
    InstrumentedCache, InstrumentedMailer, InstrumentedQueue, InstrumentedStore,
};
pub use logging::{LogFormat, TelemetryGuard, init_logging};
pub use metrics::{Held, Metrics, exposition};
pub use trace_context::{continue_trace, link_to, traceparent_of};
