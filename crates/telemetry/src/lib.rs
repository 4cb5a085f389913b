//! Telemetry for every orderflow command: logging set up once, and the Prometheus metrics
//! the services export.
#![forbid(unsafe_code)]

mod logging;
mod metrics;

pub use logging::{LogFormat, init_logging};
pub use metrics::Metrics;
