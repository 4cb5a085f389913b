use std::sync::Arc;
use std::time::Duration;

use orderflow_core::ports::{Queue, ReceivedMessage};
use orderflow_core::usecases::{Delivery, Handled, ProcessingService, RetryLater};
use orderflow_core::{OrderId, OrderMessage, TraceParent};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::deleter::{Deleter, Finished};
use crate::yielding::{YieldToRequests, Yielding};
use orderflow_core::backoff::exponential;
use orderflow_telemetry::{Metrics, continue_trace, traceparent_of};

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Messages asked for per receive (1 to 10).
    pub batch: u32,
    /// Messages processed at once.
    pub concurrency: usize,
    /// Long-poll wait of one receive.
    pub wait: Duration,
    /// How long a received message stays hidden while it is processed.
    pub visibility: Duration,
    /// First retry delay of a failing message; doubles per receive up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// After a shutdown signal, how long in-flight messages may take to finish.
    pub shutdown_deadline: Duration,
    /// Whether, and when, the worker gives the cores to the requests of its process (see
    /// [`YieldToRequests`]): for a worker beside the API, as in `orderflow serve`.
    pub yield_to_requests: Option<YieldToRequests>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            batch: 10,
            concurrency: 128,
            wait: Duration::from_secs(5),
            visibility: Duration::from_secs(30),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            shutdown_deadline: Duration::from_secs(20),
            yield_to_requests: None,
        }
    }
}

/// Consumes the order queue: each message is processed and deleted, or left to reappear
/// after a growing delay when processing must be retried.
pub struct Worker {
    queue: Arc<dyn Queue>,
    processing: Arc<ProcessingService>,
    settings: WorkerSettings,
    metrics: Arc<Metrics>,
}

impl Worker {
    pub fn new(
        queue: Arc<dyn Queue>,
        processing: Arc<ProcessingService>,
        settings: WorkerSettings,
    ) -> Self {
        Self {
            queue,
            processing,
            settings,
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Counts received, deleted and dead-lettered messages and times deliveries there.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Runs until `shutdown` is cancelled; then stops receiving and gives in-flight messages
    /// up to the shutdown deadline. Messages still unfinished then reappear for another
    /// worker once their visibility timeout passes.
    ///
    /// Several pollers receive side by side, each with its share of the concurrency: one
    /// receive at a time would cap the worker at one batch per queue round trip, however
    /// many messages it could process at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let (deleter, deleting) =
            Deleter::start(Arc::clone(&self.queue), Arc::clone(&self.metrics));
        let yielding = self
            .settings
            .yield_to_requests
            .map(|policy| Arc::new(Yielding::new(policy, Arc::clone(&self.metrics), "worker")));
        let mut pollers = JoinSet::new();
        for share in self.settings.poller_shares() {
            let poller = Poller {
                job: Job {
                    queue: Arc::clone(&self.queue),
                    processing: Arc::clone(&self.processing),
                    deleter: deleter.clone(),
                    settings: self.settings.clone(),
                    metrics: Arc::clone(&self.metrics),
                    shutdown: shutdown.clone(),
                    yielding: yielding.clone(),
                },
                concurrency: share,
            };
            pollers.spawn(poller.run(shutdown.clone()));
        }
        while let Some(stopped) = pollers.join_next().await {
            if let Err(e) = stopped {
                tracing::warn!(error = %e, "a queue poller stopped abnormally");
            }
        }
        // The last finished messages' deletes.
        drop(deleter);
        if let Err(e) = deleting.await {
            tracing::warn!(error = %e, "the batch deleter stopped abnormally");
        }
        tracing::info!("worker stopped");
    }
}

impl WorkerSettings {
    /// The concurrency split between pollers, one per receive batch it can fill, at most
    /// [`MAX_POLLERS`].
    fn poller_shares(&self) -> Vec<usize> {
        let concurrency = self.concurrency.max(1);
        let pollers = concurrency.div_ceil(self.batch_len()).clamp(1, MAX_POLLERS);
        (0..pollers)
            .map(|i| concurrency / pollers + usize::from(i < concurrency % pollers))
            .collect()
    }

    /// Messages asked for per receive, at least one.
    fn batch_len(&self) -> usize {
        usize::try_from(self.batch.max(1)).unwrap_or(usize::MAX)
    }
}

/// Longest pause between two tries of an order while the store is unavailable, so that a
/// store back from an outage is noticed soon.
const STORE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Most receives one worker has in flight.
const MAX_POLLERS: usize = 8;

/// Receives and processes messages, up to `concurrency` at once.
struct Poller {
    job: Job,
    concurrency: usize,
}

impl Poller {
    async fn run(self, shutdown: CancellationToken) {
        let job = Arc::new(self.job);
        let settings = &job.settings;
        let permits = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut in_flight = JoinSet::new();
        let mut receive_failures = 0u32;
        let half_batch = settings
            .batch_len()
            .min(self.concurrency.max(1))
            .div_ceil(2);
        while !shutdown.is_cancelled() {
            while in_flight.try_join_next().is_some() {}
            // A receive for one or two messages costs the queue as much as one for a
            // batch: wait until half a batch is free (or nothing is in flight).
            let free = permits.available_permits();
            if free == 0 || (free < half_batch && !in_flight.is_empty()) {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = in_flight.join_next() => continue,
                }
            }
            let mut max = u32::try_from(free).unwrap_or(u32::MAX).min(settings.batch);
            if let Some(yielding) = &job.yielding {
                max = max.min(yielding.wait_turn(&shutdown).await);
            }
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = job.queue.receive(max, settings.wait, settings.visibility) => received,
            };
            let messages = match received {
                Ok(messages) => {
                    receive_failures = 0;
                    messages
                }
                Err(e) => {
                    receive_failures = receive_failures.saturating_add(1);
                    let pause = exponential(
                        Duration::from_millis(200),
                        Duration::from_secs(30),
                        receive_failures,
                    );
                    tracing::warn!(error = %e, retry_in = ?pause, "queue receive failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            for message in messages {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    break;
                };
                // A sender's clock ahead of ours would make the age negative: count it as 0.
                let age = orderflow_core::now() - message.sent_at;
                let age = if age.is_negative() {
                    Duration::ZERO
                } else {
                    age.unsigned_abs()
                };
                job.metrics.message_received(age);
                let job = Arc::clone(&job);
                in_flight.spawn(async move {
                    job.handle(message).await;
                    drop(permit);
                });
            }
        }
        while in_flight.try_join_next().is_some() {}
        let remaining = in_flight.len();
        tracing::info!(remaining, "poller stopping; finishing in-flight messages");
        let drained = tokio::time::timeout(settings.shutdown_deadline, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                unfinished = in_flight.len(),
                "shutdown deadline passed; unfinished messages will be redelivered"
            );
            in_flight.abort_all();
            while in_flight.join_next().await.is_some() {}
        }
    }
}

/// What one message's task needs.
struct Job {
    queue: Arc<dyn Queue>,
    processing: Arc<ProcessingService>,
    deleter: Deleter,
    settings: WorkerSettings,
    metrics: Arc<Metrics>,
    /// The worker's shutdown signal: ends the waits for an unavailable store.
    shutdown: CancellationToken,
    /// The worker's turns while it yields to requests, shared by its pollers.
    yielding: Option<Arc<Yielding>>,
}

impl Job {
    async fn handle(&self, message: ReceivedMessage) {
        let parent = message
            .attributes
            .get(TraceParent::NAME)
            .and_then(|raw| TraceParent::parse(raw).ok());
        let trace_id = parent
            .as_ref()
            .map(|trace| trace.trace_id().to_owned())
            .unwrap_or_default();
        let span = tracing::info_span!("process_message",
            otel.name = "orders process",
            otel.kind = "consumer",
            messaging.operation.type = "process",
            messaging.message.id = %message.id,
            receive_count = message.receive_count,
            trace_id);
        if let Some(parent) = &parent {
            continue_trace(&span, parent);
        }
        // The order's email is sent in this trace: under this span, or without trace export,
        // under the placing request's.
        let trace_parent = traceparent_of(&span).or(parent);
        let started = std::time::Instant::now();
        // Slow work keeps its message hidden: another worker must not start it meanwhile.
        tokio::select! {
            () = self.handle_in_time(&message, trace_parent).instrument(span.clone()) => {}
            () = self.keep_hidden(&message.receipt) => {}
        }
        self.metrics.delivery_handled(started.elapsed());
    }

    /// Extends the message's visibility every half timeout, for as long as it is handled.
    async fn keep_hidden(&self, receipt: &str) {
        let visibility = self.settings.visibility;
        let every = (visibility / 2).max(Duration::from_millis(500));
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = self.queue.change_visibility(receipt, visibility).await {
                tracing::warn!(error = %e, "could not extend the message's visibility");
            }
        }
    }

    async fn handle_in_time(&self, message: &ReceivedMessage, trace_parent: Option<TraceParent>) {
        let Ok(parsed) = OrderMessage::parse(&message.body) else {
            tracing::error!("unreadable message; deleting it");
            self.delete(message).await;
            return;
        };
        let order_id = parsed.order_id;
        let delivery = Delivery {
            message_id: message.id.clone(),
            receive_count: message.receive_count,
            max_receives: self.queue.max_receives(),
            trace_parent,
        };
        let result = self
            .settle_while_the_store_is_away(order_id, &delivery)
            .await;
        match result {
            Ok(Handled::Finished) => self.delete(message).await,
            Ok(Handled::GaveUp) => {
                // Released at once: its next receive is past the limit, so the queue moves it
                // to the dead-letter queue, where it stays for inspection.
                tracing::warn!(%order_id, "order failed after its last delivery; dead-lettering its message");
                self.metrics.message_dead_lettered();
                if let Err(e) = self
                    .queue
                    .change_visibility(&message.receipt, Duration::ZERO)
                    .await
                {
                    tracing::warn!(%order_id, error = %e, "could not release the message to the dead-letter queue");
                }
            }
            Err(e) => {
                let delay = exponential(
                    self.settings.retry_base,
                    self.settings.retry_max,
                    message.receive_count,
                );
                tracing::warn!(%order_id, retry_in = ?delay, error = %e,
                    "order processing will be retried");
                if let Err(e) = self.queue.change_visibility(&message.receipt, delay).await {
                    tracing::warn!(%order_id, error = %e, "could not delay the retry");
                }
            }
        }
    }

    /// Processes the order (failing it instead on its last delivery, as a transient failure
    /// then must). While the store is unavailable it tries again in place, the message kept
    /// hidden: a database that is down, or a document held by the open transaction of a
    /// client that died (MongoDB keeps it for transactionLifetimeLimitSeconds, 60 s by
    /// default), is no fault of the order, and redeliveries would use up its deliveries
    /// and fail it, or dead-letter its message with the order left unfinished when even
    /// failing it could not be written. Until the shutdown signal; then the message is
    /// released as any retry is.
    async fn settle_while_the_store_is_away(
        &self,
        order_id: OrderId,
        delivery: &Delivery,
    ) -> Result<Handled, RetryLater> {
        let mut outage = 0u32;
        // Counts this order as waiting from its first failed try until it settles, or until
        // its delivery ends otherwise (released at shutdown, or cut off by the deadline).
        let mut waiting = None;
        loop {
            let mut result = self.processing.handle(order_id, delivery).await;
            if let Err(RetryLater::Delivery(e)) = &result
                && delivery.is_last()
            {
                let why = format!("gave up after {} attempts: {e}", delivery.receive_count);
                result = self.processing.give_up(order_id, delivery, &why).await;
            }
            let Err(RetryLater::StoreUnavailable(error)) = &result else {
                return result;
            };
            outage = outage.saturating_add(1);
            waiting.get_or_insert_with(|| self.metrics.store_unavailable());
            let pause = exponential(
                self.settings.retry_base,
                self.settings.retry_max.min(STORE_RETRY_MAX),
                outage,
            );
            tracing::warn!(%order_id, retry_in = ?pause, %error,
                "the store is unavailable; the order is tried again while its message stays hidden");
            tokio::select! {
                () = self.shutdown.cancelled() => return result,
                () = tokio::time::sleep(pause) => {}
            }
            self.metrics.store_retried();
        }
    }

    async fn delete(&self, message: &ReceivedMessage) {
        self.deleter
            .delete(Finished {
                message_id: message.id.clone(),
                receipt: message.receipt.clone(),
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(concurrency: usize, batch: u32) -> Vec<usize> {
        WorkerSettings {
            concurrency,
            batch,
            ..WorkerSettings::default()
        }
        .poller_shares()
    }

    #[test]
    fn one_poller_per_batch_the_concurrency_can_fill() {
        assert_eq!(shares(32, 10), vec![8, 8, 8, 8]);
        assert_eq!(shares(10, 10), vec![10]);
        assert_eq!(shares(11, 10), vec![6, 5]);
        assert_eq!(shares(1, 10), vec![1]);
    }

    #[test]
    fn pollers_are_capped_and_share_all_of_the_concurrency() {
        let split = shares(1000, 10);
        assert_eq!(split.len(), MAX_POLLERS);
        assert_eq!(split.iter().sum::<usize>(), 1000);
        assert_eq!(shares(0, 10), vec![1], "never without a poller");
    }
}
