use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// The controller's own metrics, on the registry the `/metrics` endpoint serves.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    reconciliations: IntCounterVec,
    failures: IntCounterVec,
    duration: HistogramVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let reconciliations = IntCounterVec::new(
            Opts::new(
                "orderflow_controller_reconciliations_total",
                "InventorySeed reconciliations, by outcome",
            ),
            &["outcome"],
        )?;
        let failures = IntCounterVec::new(
            Opts::new(
                "orderflow_controller_reconcile_errors_total",
                "Reconciliations that failed, by kind of error",
            ),
            &["error"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "orderflow_controller_reconcile_duration_seconds",
                "Time one reconciliation took",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["outcome"],
        )?;
        registry.register(Box::new(reconciliations.clone()))?;
        registry.register(Box::new(failures.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        // Zeros from the start, so rates and alerts see the series before the first event.
        for outcome in ["success", "error"] {
            reconciliations.with_label_values(&[outcome]);
        }
        Ok(Self {
            registry,
            reconciliations,
            failures,
            duration,
        })
    }

    pub(crate) fn reconciled(&self, took: Duration, error: Option<&'static str>) {
        let outcome = if error.is_some() { "error" } else { "success" };
        self.reconciliations.with_label_values(&[outcome]).inc();
        self.duration
            .with_label_values(&[outcome])
            .observe(took.as_secs_f64());
        if let Some(kind) = error {
            self.failures.with_label_values(&[kind]).inc();
        }
    }
}
