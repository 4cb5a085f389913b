//! What the worker's integration tests share.
use orderflow_telemetry::{Metrics, exposition};

/// The value of a series (its name, with its labels if it has any) in the worker's metrics.
pub fn sample(metrics: &Metrics, series: &str) -> f64 {
    let (_, text) = exposition(metrics.registry());
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} is not exported"))
        .parse()
        .expect("a sample's value is a number")
}
