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
    /// releasing the reserved stock in the same transaction when the new status does, and
    /// recording the email of the new status when it has one ([`EmailOutboxStore`]).
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
    /// idle relay publishes a new order at once instead of at its next poll. A store that
    /// cannot tell never resolves: the relay polls, as it must for entries written by other
    /// processes.
    async fn outbox_written(&self);
}

/// One recorded email, handed to a sender: the email of `order_id` reaching `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEmail {
    pub order_id: OrderId,
    pub status: OrderStatus,
    /// How many times it has been handed out, this time included.
    pub attempts: u32,
    /// The trace of the work that made the order final, which the send joins.
    pub trace_parent: Option<TraceParent>,
}

/// How a recorded email ended, for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailSettlement {
    Sent,
    /// The mail service refused it for good (an invalid recipient, say).
    Rejected(String),
    /// Its sends kept failing until the attempts ran out.
    Failed(String),
}

/// The email outbox. The write that makes an order final ([`OrderStore::transition_order`]
/// to a status with an email) records that email in the same transaction, once per (order,
/// status); senders take recorded emails from here until each is settled.
#[async_trait]
pub trait EmailOutboxStore: Send + Sync {
    /// Leases up to `limit` recorded emails that are due, oldest first: none is handed out
    /// again until `lease` has passed (its sender died, or is taking that long).
    async fn claim_emails(
        &self,
        limit: u32,
        lease: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<PendingEmail>, StoreError>;
    /// The email is done with: it is never handed out again.
    async fn settle_email(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        settlement: &EmailSettlement,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Its send failed for now: hand it out again from `retry_at`.
    async fn retry_email(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        retry_at: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// Emails recorded and not yet settled.
    async fn email_backlog(&self) -> Result<u64, StoreError>;
    /// Resolves once this process may have recorded emails since the last call, so an idle
    /// sender sends at once instead of at its next poll. A store that cannot tell never
    /// resolves.
    async fn email_recorded(&self);
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub refresh_tokens: u64,
    pub idempotency_keys: u64,
    pub outbox_entries: u64,
    pub emails: u64,
}

/// Removal of what is no longer needed, so the store does not grow without bound.
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// Deletes refresh tokens expired by `now`, idempotency keys created before
    /// `keys_before`, and published outbox entries and settled emails done with before
    /// `sent_before`.
    async fn purge(
        &self,
        now: OffsetDateTime,
        keys_before: OffsetDateTime,
        sent_before: OffsetDateTime,
    ) -> Result<Purged, StoreError>;
}

/// Everything the application keeps, behind one handle. No method of it or of the traits
/// it gathers has a default: the instrumented decorator must forward every one.
#[async_trait]
pub trait Store:
    UserStore
    + RefreshTokenStore
    + InventoryStore
    + OrderStore
    + OutboxStore
    + EmailOutboxStore
    + Housekeeping
{
    /// Cheap round trip proving the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}
