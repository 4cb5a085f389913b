use std::sync::Arc;
use std::time::Duration;

use orderflow_core::ports::{Queue, Store};
use orderflow_telemetry::Metrics;
use tokio_util::sync::CancellationToken;

/// Samples what is cheap to read but not counted by events: the queue's depth and, where the
/// relay runs, the outbox backlog, and where emails are sent, the email backlog, into gauges.
pub struct PipelineSampler {
    pub queue: Arc<dyn Queue>,
    /// `Some` in the process that runs the outbox relay.
    pub store: Option<Arc<dyn Store>>,
    /// `Some` in the process that sends the emails.
    pub emails: Option<Arc<dyn Store>>,
    pub metrics: Arc<Metrics>,
    pub every: Duration,
}

impl PipelineSampler {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.queue.depth().await {
                Ok(depth) => self.metrics.queue_depth(depth),
                Err(e) => tracing::debug!(error = %e, "queue depth unavailable"),
            }
            if let Some(store) = &self.store {
                match store.outbox_backlog().await {
                    Ok(backlog) => self.metrics.outbox_backlog(backlog),
                    Err(e) => tracing::debug!(error = %e, "outbox backlog unavailable"),
                }
            }
            if let Some(store) = &self.emails {
                match store.email_backlog().await {
                    Ok(backlog) => self.metrics.email_backlog(backlog),
                    Err(e) => tracing::debug!(error = %e, "email backlog unavailable"),
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.every) => {}
            }
        }
    }
}
