use std::sync::Arc;
use std::time::Duration;

use orderflow_core::backoff::exponential;
use orderflow_core::ports::{PendingEmail, StoreError};
use orderflow_core::usecases::EmailingService;
use orderflow_telemetry::continue_trace;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

#[derive(Debug, Clone)]
pub struct EmailSenderSettings {
    /// Pause between rounds when no email is due.
    pub idle: Duration,
    /// Woken by an email recorded in this process, how long the sender waits for more before
    /// it claims: under load one claim, one write, then takes many emails instead of one
    /// (placement with the worker, docs/BENCHMARKS.md).
    pub gather: Duration,
    /// Pauses while the store fails, doubling up to the max.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl Default for EmailSenderSettings {
    fn default() -> Self {
        Self {
            idle: Duration::from_millis(500),
            gather: Duration::from_millis(20),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(30),
        }
    }
}

/// Works through the email outbox: claims the due emails and sends them, a batch at a time,
/// until shut down. Any number of senders may run against one store; each email is leased
/// to one of them at a time.
pub struct EmailSender {
    emailing: Arc<EmailingService>,
    settings: EmailSenderSettings,
}

impl EmailSender {
    pub fn new(emailing: Arc<EmailingService>, settings: EmailSenderSettings) -> Self {
        Self { emailing, settings }
    }

    /// Claims one batch of due emails and sends them all at once; returns how many.
    pub async fn send_once(&self) -> Result<usize, StoreError> {
        let due = self.emailing.claim_due().await?;
        let sends = due.iter().map(|pending| self.send(pending));
        let mut failure = None;
        for sent in futures::future::join_all(sends).await {
            if let Err(e) = sent {
                failure.get_or_insert(e);
            }
        }
        // An email whose outcome the store did not take is sent again after its lease.
        failure.map_or(Ok(due.len()), Err)
    }

    async fn send(&self, pending: &PendingEmail) -> Result<(), StoreError> {
        let span = tracing::info_span!("send_email",
            otel.name = "orders email",
            order_id = %pending.order_id,
            status = %pending.status,
            attempt = pending.attempts,
        );
        if let Some(parent) = &pending.trace_parent {
            continue_trace(&span, parent);
        }
        self.emailing.send(pending).instrument(span).await?;
        Ok(())
    }

    /// Sends until `shutdown` is cancelled, backing off while the store fails, then sends
    /// one last round: what became due meanwhile (the emails of the orders a stopping worker
    /// just finished) goes out before the process does.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let pause = match self.send_once().await {
                Ok(0) => {
                    failures = 0;
                    self.settings.idle
                }
                Ok(_) => {
                    failures = 0;
                    Duration::ZERO
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause =
                        exponential(self.settings.retry_base, self.settings.retry_max, failures);
                    tracing::warn!(error = %e, retry_in = ?pause, "email sender failed");
                    pause
                }
            };
            let healthy = failures == 0;
            let woken = tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => false,
                // An order made final in this process: send its email soon.
                () = self.emailing.email_recorded(), if healthy => true,
            };
            if woken {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(self.settings.gather) => {}
                }
            }
        }
        if let Err(e) = self.send_once().await {
            tracing::warn!(error = %e, "the last round of emails failed; another sender sends them");
        }
        tracing::info!("email sender stopped");
    }
}
