use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::domain::{EmailMessage, Order, OrderId, OrderStatus, StatusTransition, User};
use crate::ports::{
    EmailClaim, EmailOutcome, MailError, Mailer, NoObserver, NotificationState, OrderCache,
    OrderProcessor, PipelineObserver, ProcessingError, StatusBroadcaster, Store, StoreError,
    Transitioned,
};

use super::announce::announce_status_change;

/// Status changes are compare-and-set; a delivery that keeps losing the race (it cannot
/// happen more than a few times in a row: statuses only move forward) stops here.
const MAX_STEPS: usize = 8;

/// Which delivery of which message this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The queue's id of the message, the same on every delivery of it: the claims of the
    /// order's email name it, so an operator can tell which message holds one.
    pub message_id: String,
    pub receive_count: u32,
    pub max_receives: u32,
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

/// Moves one order through PENDING → PROCESSING → PROCESSED (or FAILED) and sends the
/// email of its outcome. Safe to run any number of times for the same order, concurrently
/// too: each status change happens once (compare-and-set) and each email once per
/// (order, status).
pub struct ProcessingService {
    store: Arc<dyn Store>,
    cache: Arc<dyn OrderCache>,
    mailer: Arc<dyn Mailer>,
    broadcaster: Arc<dyn StatusBroadcaster>,
    processor: Arc<dyn OrderProcessor>,
    /// How long a started email is left to its sender before another delivery resends it.
    notification_lease: Duration,
    observer: Arc<dyn PipelineObserver>,
}

impl ProcessingService {
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<dyn OrderCache>,
        mailer: Arc<dyn Mailer>,
        broadcaster: Arc<dyn StatusBroadcaster>,
        processor: Arc<dyn OrderProcessor>,
        notification_lease: Duration,
    ) -> Self {
        Self {
            store,
            cache,
            mailer,
            broadcaster,
            processor,
            notification_lease,
            observer: Arc::new(NoObserver),
        }
    }

    /// Reports status changes, emails and cache failures to `observer`.
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
    /// released) unless it already finished, and its outcome is emailed.
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
    /// last one left it, then sends the email of that status.
    async fn drive(
        &self,
        order_id: OrderId,
        delivery: &Delivery,
        goal: Goal<'_>,
    ) -> Result<Handled, RetryLater> {
        use OrderStatus::*;
        let mut handled = Handled::Finished;
        let mut current = self.store.order(order_id).await?;
        // Who this delivery is to the order's email claim: unique, as two receivers may
        // hold the same message at once.
        let name = format!("{}/{}", delivery.message_id, Uuid::now_v7().simple());
        let claimant = &Claimant {
            delivery,
            name: &name,
        };
        // The email this delivery claimed in the step that finished the order.
        let mut claimed = None;
        for _ in 0..MAX_STEPS {
            let Some(order) = current else {
                tracing::warn!(%order_id, "message for an unknown order; dropping it");
                return Ok(Handled::Finished);
            };
            current = match (order.status, goal) {
                (Processed | Failed, _) => {
                    return self
                        .notify(&order, claimant, claimed)
                        .await
                        .map(|()| handled);
                }
                (Cancelled, _) => return Ok(handled),
                (Pending | Processing, Goal::GiveUp(why)) => {
                    let (next, claim) = self
                        .finish(&order, Failed, Some(why.to_owned()), claimant)
                        .await?;
                    claimed = claim;
                    next
                }
                (Pending, Goal::Process) => self.advance(&order, Processing, None).await?,
                (Processing, Goal::Process) => {
                    let (outcome, next, claim) = self.process(&order, claimant).await?;
                    handled = outcome;
                    claimed = claim;
                    next
                }
            };
        }
        Err(RetryLater::Delivery(format!(
            "order {order_id} kept changing under the worker"
        )))
    }

    /// The business step, then PROCESSED, or FAILED when it fails for good (or for the
    /// last time). Returns how the delivery ends, the order as it now is and the email
    /// claimed with the step.
    async fn process(
        &self,
        order: &Order,
        claimant: &Claimant<'_>,
    ) -> Result<(Handled, Option<Order>, Option<Claimed>), RetryLater> {
        let (handled, to, reason) = match self.processor.process(order).await {
            Ok(()) => (Handled::Finished, OrderStatus::Processed, None),
            Err(ProcessingError::Permanent(reason)) => {
                (Handled::Finished, OrderStatus::Failed, Some(reason))
            }
            Err(ProcessingError::Transient(reason)) if claimant.delivery.is_last() => {
                let reason = format!(
                    "gave up after {} attempts: {reason}",
                    claimant.delivery.receive_count
                );
                (Handled::GaveUp, OrderStatus::Failed, Some(reason))
            }
            Err(ProcessingError::Transient(reason)) => return Err(RetryLater::Delivery(reason)),
        };
        let (next, claimed) = self.finish(order, to, reason, claimant).await?;
        Ok((handled, next, claimed))
    }

    /// One compare-and-set step. Returns the order as it now is, as the store answers it:
    /// changed when the step applied, as another delivery left it when this one lost the
    /// race. So the next step needs no read of its own.
    async fn advance(
        &self,
        order: &Order,
        to: OrderStatus,
        reason: Option<String>,
    ) -> Result<Option<Order>, RetryLater> {
        let transition = Self::transition(order, to, reason)?;
        let transitioned = self.store.transition_order(order, &transition).await?;
        Ok(self.went_on(transitioned).await)
    }

    /// The step to a final status, which claims the status's email in the same write, so
    /// that finishing an order and claiming its email cost one write, not two. The user is
    /// read first, as [`Self::notify`] does, for the same reason.
    async fn finish(
        &self,
        order: &Order,
        to: OrderStatus,
        reason: Option<String>,
        claimant: &Claimant<'_>,
    ) -> Result<(Option<Order>, Option<Claimed>), RetryLater> {
        let Some(user) = self.store.user_by_id(order.user_id).await? else {
            // Nobody to email: the step alone, and the email's own step says so.
            return Ok((self.advance(order, to, reason).await?, None));
        };
        let transition = Self::transition(order, to, reason)?;
        let (transitioned, state) = self
            .store
            .transition_order_claiming_email(order, &transition, &self.email_claim(claimant))
            .await?;
        let claimed = state.map(|state| Claimed {
            status: to,
            state,
            user,
        });
        Ok((self.went_on(transitioned).await, claimed))
    }

    /// This delivery's claim on an email, as of now.
    fn email_claim(&self, claimant: &Claimant<'_>) -> EmailClaim {
        EmailClaim {
            sender: claimant.name.to_owned(),
            lease: self.notification_lease,
            now: crate::domain::now(),
        }
    }

    fn transition(
        order: &Order,
        to: OrderStatus,
        reason: Option<String>,
    ) -> Result<StatusTransition, RetryLater> {
        order
            .transition(to, reason, crate::domain::now())
            .map_err(|e| RetryLater::Delivery(e.to_string()))
    }

    /// The order a step left: announced when the step applied.
    async fn went_on(&self, transitioned: Transitioned) -> Option<Order> {
        match transitioned {
            Transitioned::Applied(order) => {
                announce_status_change(
                    self.cache.as_ref(),
                    self.broadcaster.as_ref(),
                    self.observer.as_ref(),
                    &order,
                )
                .await;
                Some(order)
            }
            Transitioned::Conflict(current) => current,
        }
    }

    /// Sends the email of a terminal status once: a record per (order, status) goes from
    /// sending to sent; one left in sending by a crash is sent again once its lease lapses,
    /// one whose send failed at once (it is released). `claimed`: the claim this
    /// delivery already took, with the step that reached the status.
    async fn notify(
        &self,
        order: &Order,
        claimant: &Claimant<'_>,
        claimed: Option<Claimed>,
    ) -> Result<(), RetryLater> {
        let (state, user) = match claimed {
            Some(claimed) if claimed.status == order.status => (claimed.state, claimed.user),
            _ => {
                // Read before the send is claimed: a store failure here must not leave a
                // claim that holds off this order's own retries until it lapses.
                let user = self.store.user_by_id(order.user_id).await?.ok_or_else(|| {
                    RetryLater::Delivery(format!("the user of order {} is missing", order.id))
                })?;
                let state = self
                    .store
                    .begin_notification(order.id, order.status, &self.email_claim(claimant))
                    .await?;
                (state, user)
            }
        };
        match state {
            NotificationState::Send => {}
            NotificationState::AlreadySent => return Ok(()),
            NotificationState::InProgress => {
                return Err(RetryLater::Delivery(format!(
                    "the {} email of order {} is being sent by another delivery",
                    order.status, order.id
                )));
            }
        }
        let Some(email) = EmailMessage::for_order(order, &user) else {
            return Ok(());
        };
        let rejection = match self.mailer.send(&email).await {
            Ok(()) => {
                self.observer.email(EmailOutcome::Sent);
                None
            }
            Err(MailError::Transient(e)) => {
                self.observer.email(EmailOutcome::Failed);
                // Given up at once, so that the next delivery sends without waiting for the
                // lease; if the store cannot take that now, the lease still ends the claim.
                let released = self
                    .store
                    .release_notification(order.id, order.status, claimant.name)
                    .await;
                if let Err(error) = released {
                    tracing::warn!(order_id = %order.id, %error, "email claim not released");
                }
                return Err(RetryLater::Delivery(e));
            }
            Err(MailError::Rejected(reason)) => {
                self.observer.email(EmailOutcome::Rejected);
                tracing::error!(order_id = %order.id, %reason, "email rejected; not retrying");
                Some(reason)
            }
        };
        self.store
            .complete_notification(order.id, order.status, rejection, crate::domain::now())
            .await?;
        tracing::info!(order_id = %order.id, status = %order.status, "order email sent");
        Ok(())
    }
}

/// An email claimed with the step that reached its status, and its recipient.
#[derive(Debug)]
struct Claimed {
    status: OrderStatus,
    state: NotificationState,
    user: User,
}

/// A delivery and the unique name its email claims go by.
struct Claimant<'a> {
    delivery: &'a Delivery,
    name: &'a str,
}
