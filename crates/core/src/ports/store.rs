use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{
    IdempotencyKey, Order, OrderId, OrderStatus, PasswordHash, Product, ProductId,
    RequestFingerprint, StatusTransition, TokenFamilyId, TokenHash, TraceParent, User, UserId,
};

/// A store failure that is not a business outcome: the caller can only report it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or timed out; nothing was written.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A stored value no longer parses into its domain type.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: PasswordHash,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// `Ok(false)` when the (case-insensitive) email is already registered.
    async fn insert_user(&self, record: &UserRecord) -> Result<bool, StoreError>;
    async fn user_by_email(&self, normalized_email: &str)
    -> Result<Option<UserRecord>, StoreError>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// Sets the user's password hash to `new` if it is still `current`; `Ok(false)` when it
    /// is not (changed since it was read) or the user is unknown.
    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError>;
}

#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub hash: TokenHash,
    pub family: TokenFamilyId,
    pub user_id: UserId,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// What presenting a refresh token for rotation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now dead and its replacement is stored in the same family.
    Rotated {
        user_id: UserId,
        family: TokenFamilyId,
    },
    /// The token had already been rotated: treated as theft, its whole family is revoked.
    Reused { family: TokenFamilyId },
    /// Unknown, expired or revoked.
    Rejected,
}

#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError>;
    /// Atomically retires `presented` and stores `next` (same user and family) if `presented`
    /// is live at `now`.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        next_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError>;
    /// Revokes the family `presented` belongs to; `Ok(false)` if no such token exists.
    async fn revoke_token_family(
        &self,
        presented: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertSummary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// Inserts or replaces each product (name, price and stock) by id.
    async fn upsert_products(&self, products: &[Product]) -> Result<UpsertSummary, StoreError>;
    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError>;
    async fn products_by_ids(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError>;
    /// Products in id order, starting after `after`.
    async fn list_products(
        &self,
        after: Option<&ProductId>,
        limit: u32,
    ) -> Result<Vec<Product>, StoreError>;
}

/// An `Idempotency-Key` claimed by the placement it accompanies.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub key: IdempotencyKey,
    pub fingerprint: RequestFingerprint,
    /// A stored claim older than this has expired and is replaced.
    pub expired_before: OffsetDateTime,
}

/// The response a key produced the first time: its HTTP status and the order as returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentReplay {
    pub fingerprint: RequestFingerprint,
    pub status: u16,
    pub order: Order,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    pub product_id: ProductId,
    pub requested: u32,
    pub available: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Stock reserved for every line; order, outbox entry and idempotency claim written.
    Placed(Order),
    /// Nothing written: these lines could not be reserved.
    Insufficient(Vec<Shortage>),
    /// Nothing written: a line's product is gone or its price changed since it was read.
    CatalogChanged,
    /// Nothing written: the key was already used (the caller compares fingerprints).
    KeyAlreadyUsed(IdempotentReplay),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transitioned {
    /// Applied: the order as it now is.
    Applied(Order),
    /// Not applied: the order is no longer in the transition's `from` status (it is as given),
    /// or it does not exist.
    Conflict(Option<Order>),
}

/// A message waiting in the transactional outbox for the relay to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: String,
    pub order_id: OrderId,
    pub payload: String,
    /// The trace of the request that placed the order, for the queue message.
    pub trace_parent: Option<TraceParent>,
    pub created_at: OffsetDateTime,
}

#[async_trait]
pub trait OrderStore: Send + Sync {
    /// In ONE transaction: reserves every line's stock (only if enough is free and the price
    /// is still the line's), inserts the order and its outbox entry (carrying `trace`), and
    /// records the claim.
    async fn place_order(
        &self,
        order: &Order,
        claim: Option<&IdempotencyClaim>,
        trace: Option<&TraceParent>,
    ) -> Result<Placement, StoreError>;
    async fn idempotent_replay(
        &self,
        user_id: UserId,
        key: &IdempotencyKey,
        expired_before: OffsetDateTime,
    ) -> Result<Option<IdempotentReplay>, StoreError>;
    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError>;
    /// The user's orders newest first, those older than `before` only when given.
    async fn list_orders(
        &self,
        user_id: UserId,
        status: Option<OrderStatus>,
        before: Option<OrderId>,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError>;
    /// Compare-and-set: applies `transition` only if the order is in its `from` status,
    /// releasing the reserved stock in the same transaction when the new status does.
    /// `order` is the order as the store last answered it: when it is in that `from` status,
    /// a store may write the changed order from it instead of reading the order again, as
    /// statuses only move forward (an order in a given status is as it was when it got there).
    async fn transition_order(
        &self,
        order: &Order,
        transition: &StatusTransition,
    ) -> Result<Transitioned, StoreError>;
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Outbox entries not yet published, oldest first.
    async fn pending_outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Leases up to `limit` unpublished entries whose lease (if any) has run out: no other
    /// relay gets them until `lease` has passed.
    async fn claim_outbox(
        &self,
        limit: u32,
        lease: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// These entries were published: they are never handed out again.
    async fn mark_outbox_sent(&self, ids: &[String], now: OffsetDateTime)
    -> Result<(), StoreError>;
    /// Publishing failed: hand the entry out again from `retry_at`.
    async fn retry_outbox(&self, id: &str, retry_at: OffsetDateTime) -> Result<(), StoreError>;
    /// Entries not yet published.
    async fn outbox_backlog(&self) -> Result<u64, StoreError>;
    /// Resolves once this process may have added outbox entries since the last call, so an
    /// idle relay publishes a new order at once instead of at its next poll. The default
    /// never resolves: the relay polls, as it must for entries written by other processes.
    async fn outbox_written(&self) {
        std::future::pending::<()>().await;
    }
}

/// Where the email for one (order, status) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationState {
    /// Not sent yet (new, or left in sending by a crash): send it now.
    Send,
    /// Another delivery started sending it less than the lease ago: try again later.
    InProgress,
    /// Already sent: do nothing.
    AlreadySent,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Records that `claim.sender` is sending the email for (order, status), unless it
    /// already was sent or a sender began sending it within its lease (after that, that
    /// sender is taken to have crashed and this one sends it again).
    async fn begin_notification(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        claim: &EmailClaim,
    ) -> Result<NotificationState, StoreError>;
    /// `sender`'s send of the email for (order, status) failed: its claim is given up, so the
    /// next delivery sends at once instead of waiting for the lease. Does nothing to a claim
    /// that is not `sender`'s (it was taken over) or an email already sent.
    async fn release_notification(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        sender: &str,
    ) -> Result<(), StoreError>;
    /// The email for (order, status) went out (`rejected`: the mail service refused it for
    /// good; it is not tried again either way).
    async fn complete_notification(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        rejected: Option<String>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// How many emails for this order have gone out (sent or rejected), for checks.
    async fn notifications_completed(&self, order_id: OrderId) -> Result<u32, StoreError>;
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub refresh_tokens: u64,
    pub idempotency_keys: u64,
    pub outbox_entries: u64,
}

/// Removal of what is no longer needed, so the store does not grow without bound.
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// Deletes refresh tokens expired by `now`, idempotency keys created before
    /// `keys_before`, and published outbox entries sent before `sent_before`.
    async fn purge(
        &self,
        now: OffsetDateTime,
        keys_before: OffsetDateTime,
        sent_before: OffsetDateTime,
    ) -> Result<Purged, StoreError>;
}

/// Everything the application keeps, behind one handle.
#[async_trait]
pub trait Store:
    UserStore
    + RefreshTokenStore
    + InventoryStore
    + OrderStore
    + OutboxStore
    + NotificationStore
    + Housekeeping
{
    /// Cheap round trip proving the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// [`OrderStore::transition_order`], and when it applies, [`NotificationStore::
    /// begin_notification`] for the status it reached, with `claim`: a worker finishing an
    /// order claims its email in the step that finishes it. The claim's state is `None` when
    /// the transition did not apply. A store that can do both in one write overrides this;
    /// done one after the other, a failure between the two leaves the claim to the email's
    /// own step, as if it had not been asked for (that step reports it if it lasts).
    async fn transition_order_claiming_email(
        &self,
        order: &Order,
        transition: &StatusTransition,
        claim: &EmailClaim,
    ) -> Result<(Transitioned, Option<NotificationState>), StoreError> {
        let transitioned = self.transition_order(order, transition).await?;
        let Transitioned::Applied(changed) = &transitioned else {
            return Ok((transitioned, None));
        };
        let state = self
            .begin_notification(changed.id, changed.status, claim)
            .await
            .inspect_err(|error| {
                tracing::debug!(id = %changed.id, %error, "email not claimed with its step");
            })
            .ok();
        Ok((transitioned, state))
    }
}

/// Who claims an order's email, for how long, as of when (see
/// [`NotificationStore::begin_notification`]).
#[derive(Debug, Clone)]
pub struct EmailClaim {
    /// One delivery of a queue message, named uniquely: a queue may hand the same message
    /// to two receivers at once, so the message alone cannot say whose claim it is.
    pub sender: String,
    /// How long the claim holds others off before its sender is taken to have crashed.
    pub lease: Duration,
    pub now: OffsetDateTime,
}
