use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{
    EmailOutboxStore, EmailSettlement, Housekeeping, IdempotencyClaim, IdempotentReplay,
    InventoryStore, NewRefreshToken, OrderStore, OutboxEntry, OutboxStore, PendingEmail, Placement,
    Purged, RefreshTokenStore, Rotation, Store, StoreError, Transitioned, UpsertSummary,
    UserRecord, UserStore,
};
use orderflow_core::{
    IdempotencyKey, Order, OrderId, OrderStatus, PasswordHash, Product, ProductId,
    StatusTransition, TokenHash, TraceParent, User, UserId,
};
use time::OffsetDateTime;

use super::Dependency;
use crate::Metrics;

/// A [`Store`] whose every call is a database client span (`db.*` attributes) and a
/// `dependency="store"` duration.
pub struct InstrumentedStore {
    inner: Arc<dyn Store>,
    dependency: Dependency,
}

impl InstrumentedStore {
    /// `system` is the OpenTelemetry `db.system.name`: `sqlite`, `mongodb`.
    pub fn new(inner: Arc<dyn Store>, system: &'static str, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            dependency: Dependency {
                kind: "store",
                system,
                metrics,
            },
        }
    }

    async fn call<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let span = self.dependency.db_span(operation);
        self.dependency.call(operation, span, work).await
    }
}

#[async_trait]
impl UserStore for InstrumentedStore {
    async fn insert_user(&self, record: &UserRecord) -> Result<bool, StoreError> {
        self.call("insert_user", self.inner.insert_user(record))
            .await
    }

    async fn user_by_email(
        &self,
        normalized_email: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        self.call("user_by_email", self.inner.user_by_email(normalized_email))
            .await
    }

    async fn user_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.call("user_by_id", self.inner.user_by_id(id)).await
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError> {
        self.call(
            "replace_password_hash",
            self.inner.replace_password_hash(id, current, new),
        )
        .await
    }
}

#[async_trait]
impl RefreshTokenStore for InstrumentedStore {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError> {
        self.call(
            "insert_refresh_token",
            self.inner.insert_refresh_token(token),
        )
        .await
    }

    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        next: &TokenHash,
        next_expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let work = self
            .inner
            .rotate_refresh_token(presented, next, next_expires_at, now);
        self.call("rotate_refresh_token", work).await
    }

    async fn revoke_token_family(
        &self,
        presented: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let work = self.inner.revoke_token_family(presented, now);
        self.call("revoke_token_family", work).await
    }
}

#[async_trait]
impl InventoryStore for InstrumentedStore {
    async fn upsert_products(&self, products: &[Product]) -> Result<UpsertSummary, StoreError> {
        self.call("upsert_products", self.inner.upsert_products(products))
            .await
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        self.call("product", self.inner.product(id)).await
    }

    async fn products_by_ids(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        self.call("products_by_ids", self.inner.products_by_ids(ids))
            .await
    }

    async fn list_products(
        &self,
        after: Option<&ProductId>,
        limit: u32,
    ) -> Result<Vec<Product>, StoreError> {
        self.call("list_products", self.inner.list_products(after, limit))
            .await
    }
}

#[async_trait]
impl OrderStore for InstrumentedStore {
    async fn place_order(
        &self,
        order: &Order,
        claim: Option<&IdempotencyClaim>,
        trace: Option<&TraceParent>,
    ) -> Result<Placement, StoreError> {
        self.call("place_order", self.inner.place_order(order, claim, trace))
            .await
    }

    async fn idempotent_replay(
        &self,
        user_id: UserId,
        key: &IdempotencyKey,
        expired_before: OffsetDateTime,
    ) -> Result<Option<IdempotentReplay>, StoreError> {
        let work = self.inner.idempotent_replay(user_id, key, expired_before);
        self.call("idempotent_replay", work).await
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.call("order", self.inner.order(id)).await
    }

    async fn list_orders(
        &self,
        user_id: UserId,
        status: Option<OrderStatus>,
        before: Option<OrderId>,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError> {
        let work = self.inner.list_orders(user_id, status, before, limit);
        self.call("list_orders", work).await
    }

    async fn transition_order(
        &self,
        order: &Order,
        transition: &StatusTransition,
    ) -> Result<Transitioned, StoreError> {
        let work = self.inner.transition_order(order, transition);
        self.call("transition_order", work).await
    }
}

#[async_trait]
impl OutboxStore for InstrumentedStore {
    async fn claim_outbox(
        &self,
        limit: u32,
        lease: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.call("claim_outbox", self.inner.claim_outbox(limit, lease, now))
            .await
    }

    async fn mark_outbox_sent(
        &self,
        ids: &[String],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.call("mark_outbox_sent", self.inner.mark_outbox_sent(ids, now))
            .await
    }

    async fn retry_outbox(&self, id: &str, retry_at: OffsetDateTime) -> Result<(), StoreError> {
        self.call("retry_outbox", self.inner.retry_outbox(id, retry_at))
            .await
    }

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        self.call("outbox_backlog", self.inner.outbox_backlog())
            .await
    }

    /// A wait, not a call: neither timed nor traced.
    async fn outbox_written(&self) {
        self.inner.outbox_written().await;
    }
}

#[async_trait]
impl EmailOutboxStore for InstrumentedStore {
    async fn claim_emails(
        &self,
        limit: u32,
        lease: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<PendingEmail>, StoreError> {
        self.call("claim_emails", self.inner.claim_emails(limit, lease, now))
            .await
    }

    async fn settle_email(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        settlement: &EmailSettlement,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let work = self.inner.settle_email(order_id, status, settlement, now);
        self.call("settle_email", work).await
    }

    async fn retry_email(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        retry_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let work = self.inner.retry_email(order_id, status, retry_at);
        self.call("retry_email", work).await
    }

    async fn email_backlog(&self) -> Result<u64, StoreError> {
        self.call("email_backlog", self.inner.email_backlog()).await
    }

    /// A wait, not a call: neither timed nor traced.
    async fn email_recorded(&self) {
        self.inner.email_recorded().await;
    }
}

#[async_trait]
impl Housekeeping for InstrumentedStore {
    async fn purge(
        &self,
        now: OffsetDateTime,
        keys_before: OffsetDateTime,
        sent_before: OffsetDateTime,
    ) -> Result<Purged, StoreError> {
        self.call("purge", self.inner.purge(now, keys_before, sent_before))
            .await
    }
}

#[async_trait]
impl Store for InstrumentedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.call("ping", self.inner.ping()).await
    }
}
