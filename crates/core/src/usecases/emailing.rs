use std::sync::Arc;
use std::time::Duration;

use crate::backoff::exponential;
use crate::domain::EmailMessage;
use crate::ports::{
    EmailOutcome, EmailSettlement, MailError, Mailer, NoObserver, PendingEmail, PipelineObserver,
    Store, StoreError,
};

/// How the email outbox is worked through.
#[derive(Debug, Clone)]
pub struct EmailPolicy {
    /// Emails handed out per round.
    pub batch: u32,
    /// How long a handed-out email is left to its sender before another one sends it (the
    /// first died): longer than the mail service takes to answer.
    pub lease: Duration,
    /// Sends tried before an email is given up as failed.
    pub max_attempts: u32,
    /// Pause after a failed send, doubled for each attempt after the first, up to the max.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl Default for EmailPolicy {
    fn default() -> Self {
        Self {
            batch: 100,
            lease: Duration::from_secs(60),
            max_attempts: 12,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
        }
    }
}

/// Sends the emails the email outbox records: each once it is due, then settles it, or
/// leaves it to be sent again after a pause. Emails outlive anything that happens to the
/// order's queue message or the process that made the order final: a sender that dies
/// mid-send leaves its emails to the next one once their lease ends.
pub struct EmailingService {
    store: Arc<dyn Store>,
    mailer: Arc<dyn Mailer>,
    policy: EmailPolicy,
    observer: Arc<dyn PipelineObserver>,
}

impl EmailingService {
    pub fn new(store: Arc<dyn Store>, mailer: Arc<dyn Mailer>, policy: EmailPolicy) -> Self {
        Self {
            store,
            mailer,
            policy,
            observer: Arc::new(NoObserver),
        }
    }

    /// Reports each send's outcome to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn PipelineObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// Hands this sender up to a batch of due emails, each leased to it.
    pub async fn claim_due(&self) -> Result<Vec<PendingEmail>, StoreError> {
        self.store
            .claim_emails(self.policy.batch, self.policy.lease, crate::domain::now())
            .await
    }

    /// Resolves once this process may have recorded emails ([`Store::email_recorded`]).
    pub async fn email_recorded(&self) {
        self.store.email_recorded().await;
    }

    /// Sends one claimed email and records how that went.
    pub async fn send(&self, pending: &PendingEmail) -> Result<EmailOutcome, StoreError> {
        let (order_id, status) = (pending.order_id, pending.status);
        let email = match self.compose(pending).await? {
            Ok(email) => email,
            Err(why) => return self.fail(pending, why).await,
        };
        match self.mailer.send(&email).await {
            Ok(()) => {
                self.settle(pending, EmailSettlement::Sent).await?;
                tracing::info!(%order_id, %status, "order email sent");
                Ok(self.report(EmailOutcome::Sent))
            }
            Err(MailError::Rejected(reason)) => {
                tracing::error!(%order_id, %status, %reason, "order email rejected; not retrying");
                self.settle(pending, EmailSettlement::Rejected(reason))
                    .await?;
                Ok(self.report(EmailOutcome::Rejected))
            }
            Err(MailError::Transient(reason)) if pending.attempts < self.policy.max_attempts => {
                let pause = exponential(
                    self.policy.retry_base,
                    self.policy.retry_max,
                    pending.attempts,
                );
                tracing::warn!(%order_id, %status, %reason, attempt = pending.attempts,
                    retry_in = ?pause, "order email not sent; retrying");
                self.store
                    .retry_email(order_id, status, crate::domain::now() + pause)
                    .await?;
                Ok(self.report(EmailOutcome::Retried))
            }
            Err(MailError::Transient(reason)) => self.fail(pending, reason).await,
        }
    }

    /// The email for `pending`, or why there can be none.
    async fn compose(
        &self,
        pending: &PendingEmail,
    ) -> Result<Result<EmailMessage, String>, StoreError> {
        let Some(order) = self.store.order(pending.order_id).await? else {
            return Ok(Err("the order is missing".to_owned()));
        };
        let Some(user) = self.store.user_by_id(order.user_id).await? else {
            return Ok(Err("the order's user is missing".to_owned()));
        };
        // Final statuses never change, so the order is as it was when the email was recorded.
        Ok(EmailMessage::for_order(&order, &user)
            .ok_or_else(|| format!("no email for an order in {}", order.status)))
    }

    /// Gives the email up, for good.
    async fn fail(&self, pending: &PendingEmail, why: String) -> Result<EmailOutcome, StoreError> {
        tracing::error!(order_id = %pending.order_id, status = %pending.status,
            attempts = pending.attempts, reason = %why, "order email failed; giving up");
        self.settle(pending, EmailSettlement::Failed(why)).await?;
        Ok(self.report(EmailOutcome::Failed))
    }

    async fn settle(
        &self,
        pending: &PendingEmail,
        settlement: EmailSettlement,
    ) -> Result<(), StoreError> {
        self.store
            .settle_email(
                pending.order_id,
                pending.status,
                &settlement,
                crate::domain::now(),
            )
            .await
    }

    fn report(&self, outcome: EmailOutcome) -> EmailOutcome {
        self.observer.email(outcome);
        outcome
    }
}
