use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use orderflow_core::TraceParent;
use orderflow_core::ports::{OutgoingMessage, Queue, Store, StoreError};
use orderflow_telemetry::{Metrics, continue_trace, link_to, traceparent_of};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::yielding::{YieldToRequests, Yielding};
use orderflow_core::backoff::exponential;

/// The message attribute naming the order (readable without parsing the body).
const ORDER_ID_ATTRIBUTE: &str = "orderId";

#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// Entries claimed per round.
    pub batch: u32,
    /// How long a claimed entry is reserved for this relay; after that another relay may
    /// publish it (this one died).
    pub lease: Duration,
    /// Pause between rounds when the outbox is empty.
    pub idle: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Whether, and when, the relay gives the cores to the requests of its process (see
    /// [`YieldToRequests`]): beside a worker in the API's process, as in `orderflow serve`.
    pub yield_to_requests: Option<YieldToRequests>,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch: 100,
            lease: Duration::from_secs(30),
            idle: Duration::from_millis(25),
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_secs(30),
            yield_to_requests: None,
        }
    }
}

/// Publishes outbox entries to the queue and marks them sent. Delivery is at least once: an
/// entry published just before a crash is published again after its lease, and the worker
/// makes that harmless.
pub struct OutboxRelay {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    settings: RelaySettings,
    metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("publishing failed: {0}")]
    Queue(String),
}

impl OutboxRelay {
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn Queue>, settings: RelaySettings) -> Self {
        Self {
            store,
            queue,
            settings,
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Counts the time the relay yields to requests there.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Claims one batch and publishes it in one send and one mark; returns how many entries
    /// were published.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        self.relay_up_to(self.settings.batch).await
    }

    /// [`Self::relay_once`] with a batch of at most `most` entries.
    async fn relay_up_to(&self, most: u32) -> Result<usize, RelayError> {
        let now = orderflow_core::now();
        let claimed = self
            .store
            .claim_outbox(self.settings.batch.min(most), self.settings.lease, now)
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        // Each message gets a publish span in its placing request's trace, open while the
        // batch is sent, and carries that span's context (or, without trace export, the
        // request's). The batch's send span links to every one of them.
        let (spans, messages): (Vec<_>, Vec<_>) = claimed
            .iter()
            .map(|entry| {
                let span = tracing::info_span!("publish",
                    otel.name = "orders publish",
                    otel.kind = "producer",
                    messaging.operation.type = "create",
                    order_id = %entry.order_id,
                );
                if let Some(parent) = &entry.trace_parent {
                    continue_trace(&span, parent);
                }
                let mut attributes =
                    BTreeMap::from([(ORDER_ID_ATTRIBUTE.to_owned(), entry.order_id.to_string())]);
                if let Some(trace) = traceparent_of(&span).or(entry.trace_parent) {
                    attributes.insert(TraceParent::NAME.to_owned(), trace.to_string());
                }
                let message = OutgoingMessage {
                    body: entry.payload.clone(),
                    attributes,
                };
                (span, message)
            })
            .unzip();
        let send = tracing::info_span!("send",
            otel.name = "orders send",
            otel.kind = "client",
            messaging.operation.type = "send",
            messaging.batch.message_count = messages.len(),
        );
        for span in &spans {
            link_to(&send, span);
        }
        let outcomes = self.queue.send_batch(&messages).instrument(send).await;
        drop(spans);

        let mut sent = Vec::with_capacity(claimed.len());
        let mut failure = None;
        for (entry, outcome) in claimed.iter().zip(outcomes) {
            match outcome {
                Ok(_) => sent.push(entry.id.clone()),
                Err(e) => {
                    // The queue refused it: hand it back for a later round.
                    let retry_at = orderflow_core::now() + self.settings.retry_base;
                    self.store.retry_outbox(&entry.id, retry_at).await?;
                    failure.get_or_insert(e);
                }
            }
        }
        if !sent.is_empty() {
            self.store
                .mark_outbox_sent(&sent, orderflow_core::now())
                .await?;
        }
        match failure {
            Some(e) => Err(RelayError::Queue(e.to_string())),
            None => Ok(sent.len()),
        }
    }

    /// Relays until `shutdown` is cancelled, backing off while the store or queue fails.
    pub async fn run(self, shutdown: CancellationToken) {
        let yielding = self
            .settings
            .yield_to_requests
            .map(|policy| Yielding::new(policy, Arc::clone(&self.metrics), "relay"));
        let mut failures = 0u32;
        loop {
            let most = match &yielding {
                Some(yielding) => yielding.wait_turn(&shutdown).await,
                None => u32::MAX,
            };
            if shutdown.is_cancelled() {
                break;
            }
            let pause = match self.relay_up_to(most).await {
                Ok(0) => {
                    failures = 0;
                    self.settings.idle
                }
                Ok(published) => {
                    failures = 0;
                    tracing::debug!(published, "outbox entries published");
                    Duration::ZERO
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause =
                        exponential(self.settings.retry_base, self.settings.retry_max, failures);
                    tracing::warn!(error = %e, retry_in = ?pause, "outbox relay failed");
                    pause
                }
            };
            // While backing off from a failure, a placement does not cut the pause short.
            let healthy = failures == 0;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
                // A placement in this process: publish it now rather than at the next poll.
                () = self.store.outbox_written(), if healthy => {}
            }
        }
        tracing::info!("outbox relay stopped");
    }
}
