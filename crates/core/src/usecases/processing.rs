use std::sync::Arc;

use crate::domain::{Order, OrderId, OrderStatus, TraceParent};
use crate::ports::{
    NoObserver, OrderCache, OrderProcessor, PipelineObserver, ProcessingError, StatusBroadcaster,
    Store, StoreError, Transitioned,
};

use super::announce::announce_status_change;

/// Status changes are compare-and-set; a delivery that keeps losing the race (it cannot
/// happen more than a few times in a row: statuses only move forward) stops here.
const MAX_STEPS: usize = 8;

/// Which delivery of which message this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The queue's id of the message, the same on every delivery of it.
    pub message_id: String,
    pub receive_count: u32,
    pub max_receives: u32,
    /// The trace this delivery is processed in, which the order's email joins.
    pub trace_parent: Option<TraceParent>,
}

impl Delivery {
    /// The last delivery before the queue gives up: transient failures now fail the order.
    pub fn is_last(&self) -> bool {
        self.receive_count >= self.max_receives
    }
}

/// What a delivery is for.
#[derive(Debug, Clone, Copy)]
enum Goal<'a> {
    /// Process the order normally.
    Process,
    /// Fail the order with this reason (the dead-letter path).
    GiveUp(&'a str),
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The order is done with (or never needs this message again): delete the message.
    Finished,
    /// The order was failed because its message used up its deliveries: leave the message to
    /// the queue's dead-letter queue, where operators can inspect it.
    GaveUp,
}

/// The delivery could not finish the order.
#[derive(Debug, thiserror::Error)]
pub enum RetryLater {
    /// The store could not be used (down, or a document held by another client's
    /// transaction): nothing about the order failed, so waiting for the store should cost
    /// the message none of its deliveries.
    #[error("retry later: {0}")]
    StoreUnavailable(String),
    /// This delivery could not finish the order: let the message reappear and try again.
    #[error("retry later: {0}")]
    Delivery(String),
}

impl From<StoreError> for RetryLater {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::StoreUnavailable(error.to_string()),
            StoreError::Corrupt(_) => Self::Delivery(error.to_string()),
        }
    }
}

/// Moves one order through PENDING → PROCESSING → PROCESSED (or FAILED). Safe to run any
/// number of times for the same order, concurrently too: each status change happens once
/// (compare-and-set). The step that makes the order final records its email in the same
/// write; the email is sent from there ([`super::EmailingService`]), whatever becomes of
/// this delivery.
pub struct ProcessingService {
    store: Arc<dyn Store>,
    cache: Arc<dyn OrderCache>,
    broadcaster: Arc<dyn StatusBroadcaster>,
    processor: Arc<dyn OrderProcessor>,
    observer: Arc<dyn PipelineObserver>,
}

impl ProcessingService {
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<dyn OrderCache>,
        broadcaster: Arc<dyn StatusBroadcaster>,
        processor: Arc<dyn OrderProcessor>,
    ) -> Self {
        Self {
            store,
            cache,
            broadcaster,
            processor,
            observer: Arc::new(NoObserver),
        }
    }

    /// Reports status changes and cache failures to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn PipelineObserver>) -> Self {
        self.observer = observer;
        self
    }

    pub async fn handle(
        &self,
        order_id: OrderId,
        delivery: &Delivery,
    ) -> Result<Handled, RetryLater> {
        self.drive(order_id, delivery, Goal::Process).await
    }

    /// The dead-letter path for a message past its last delivery: the order fails (stock
    /// released) unless it already finished.
    pub async fn give_up(
        &self,
        order_id: OrderId,
        delivery: &Delivery,
        why: &str,
    ) -> Result<Handled, RetryLater> {
        self.drive(order_id, delivery, Goal::GiveUp(why)).await?;
        Ok(Handled::GaveUp)
    }

    /// Steps the order towards a final status, each step starting from the order as the
    /// last one left it.
    async fn drive(
        &self,
        order_id: OrderId,
        delivery: &Delivery,
        goal: Goal<'_>,
    ) -> Result<Handled, RetryLater> {
        use OrderStatus::*;
        let mut handled = Handled::Finished;
        let mut current = self.store.order(order_id).await?;
        for _ in 0..MAX_STEPS {
            let Some(order) = current else {
                tracing::warn!(%order_id, "message for an unknown order; dropping it");
                return Ok(Handled::Finished);
            };
            current = match (order.status, goal) {
                (Processed | Failed | Cancelled, _) => return Ok(handled),
                (Pending | Processing, Goal::GiveUp(why)) => {
                    self.advance(&order, Failed, Some(why.to_owned()), delivery)
                        .await?
                }
                (Pending, Goal::Process) => {
                    self.advance(&order, Processing, None, delivery).await?
                }
                (Processing, Goal::Process) => {
                    let (outcome, next) = self.process(&order, delivery).await?;
                    handled = outcome;
                    next
                }
            };
        }
        Err(RetryLater::Delivery(format!(
            "order {order_id} kept changing under the worker"
        )))
    }

    /// The business step, then PROCESSED, or FAILED when it fails for good (or for the
    /// last time). Returns how the delivery ends and the order as it now is.
    async fn process(
        &self,
        order: &Order,
        delivery: &Delivery,
    ) -> Result<(Handled, Option<Order>), RetryLater> {
        let (handled, to, reason) = match self.processor.process(order).await {
            Ok(()) => (Handled::Finished, OrderStatus::Processed, None),
            Err(ProcessingError::Permanent(reason)) => {
                (Handled::Finished, OrderStatus::Failed, Some(reason))
            }
            Err(ProcessingError::Transient(reason)) if delivery.is_last() => {
                let reason = format!(
                    "gave up after {} attempts: {reason}",
                    delivery.receive_count
                );
                (Handled::GaveUp, OrderStatus::Failed, Some(reason))
            }
            Err(ProcessingError::Transient(reason)) => return Err(RetryLater::Delivery(reason)),
        };
        Ok((handled, self.advance(order, to, reason, delivery).await?))
    }

    /// One compare-and-set step. Returns the order as it now is, as the store answers it:
    /// changed when the step applied, as another delivery left it when this one lost the
    /// race. So the next step needs no read of its own.
    async fn advance(
        &self,
        order: &Order,
        to: OrderStatus,
        reason: Option<String>,
        delivery: &Delivery,
    ) -> Result<Option<Order>, RetryLater> {
        let transition = order
            .transition(to, reason, crate::domain::now())
            .map_err(|e| RetryLater::Delivery(e.to_string()))?
            .traced(delivery.trace_parent);
        match self.store.transition_order(order, &transition).await? {
            Transitioned::Applied(order) => {
                announce_status_change(
                    self.cache.as_ref(),
                    self.broadcaster.as_ref(),
                    self.observer.as_ref(),
                    &order,
                )
                .await;
                Ok(Some(order))
            }
            Transitioned::Conflict(current) => Ok(current),
        }
    }
}
