use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::domain::{
    Cursor, FieldError, IdempotencyKey, Order, OrderId, OrderLine, OrderRequest, OrderStatus,
    PageLimit, PricingError, ProductId, RequestFingerprint, TraceParent, UserId,
};
use crate::ports::{
    IdempotencyClaim, IdempotentReplay, NoObserver, OrderCache, PipelineObserver, Placement,
    StatusBroadcaster, Store, StoreError, Transitioned,
};

use super::announce::announce_status_change;
use super::known_products::KnownProducts;

use super::Page;

/// How long an `Idempotency-Key` keeps its first response.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

/// Placement prices again, from the store, when the catalog changes under it: this many
/// attempts at most.
const PLACEMENT_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("insufficient stock")]
    InsufficientStock(Vec<FieldError>),
    #[error("no such order")]
    NotFound,
    #[error("the order is {0} and can no longer be cancelled")]
    NotCancellable(OrderStatus),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("the catalog kept changing while the order was placed")]
    CatalogBusy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedOrder {
    pub order: Order,
    /// True when this is the stored first response to the same idempotent request.
    pub replayed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
}

impl CacheStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Hit => "HIT",
            Self::Miss => "MISS",
        }
    }
}

/// Which orders the cache may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePolicy {
    /// Every order: every writer of orders refreshes this cache (one process, or a shared
    /// cache).
    AllOrders,
    /// Only orders in a final status, which never change: for a cache that writers in other
    /// processes cannot reach.
    FinalOrdersOnly,
}

pub struct OrderService {
    store: Arc<dyn Store>,
    cache: Arc<dyn OrderCache>,
    cache_policy: CachePolicy,
    broadcaster: Arc<dyn StatusBroadcaster>,
    observer: Arc<dyn PipelineObserver>,
    known_products: KnownProducts,
}

impl OrderService {
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<dyn OrderCache>,
        cache_policy: CachePolicy,
        broadcaster: Arc<dyn StatusBroadcaster>,
    ) -> Self {
        Self {
            store,
            cache,
            cache_policy,
            broadcaster,
            observer: Arc::new(NoObserver),
            known_products: KnownProducts::default(),
        }
    }

    /// Reports status changes and cache failures to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn PipelineObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// The order as the store has it now (no cache), if it is the user's.
    pub async fn current(&self, user_id: UserId, id: OrderId) -> Result<Order, OrderError> {
        self.store
            .order(id)
            .await?
            .filter(|o| o.user_id == user_id)
            .ok_or(OrderError::NotFound)
    }

    pub async fn place(
        &self,
        user_id: UserId,
        request: OrderRequest,
        key: Option<IdempotencyKey>,
        trace: Option<TraceParent>,
    ) -> Result<PlacedOrder, OrderError> {
        let now = crate::domain::now();
        let claim = key.map(|key| IdempotencyClaim {
            key,
            fingerprint: RequestFingerprint::of_order_request(&request),
            expired_before: now - IDEMPOTENCY_WINDOW,
        });
        if let Some(claim) = &claim {
            let earlier = self
                .store
                .idempotent_replay(user_id, &claim.key, claim.expired_before)
                .await?;
            if let Some(earlier) = earlier {
                return replay(earlier, claim);
            }
        }
        for attempt in 0..PLACEMENT_ATTEMPTS {
            // The first attempt prices from the products last read; after a change, afresh.
            let order = self.price(user_id, &request, now, attempt > 0).await?;
            match self
                .store
                .place_order(&order, claim.as_ref(), trace.as_ref())
                .await?
            {
                Placement::Placed(order) => {
                    tracing::info!(order_id = %order.id, total = %order.total, "order placed");
                    return Ok(PlacedOrder {
                        order,
                        replayed: false,
                    });
                }
                Placement::Insufficient(shortages) => {
                    let errors = shortages
                        .iter()
                        .map(|s| {
                            FieldError::new(
                                format!("items[{}].quantity", line_index(&request, &s.product_id)),
                                format!("requested {}, available {}", s.requested, s.available),
                            )
                        })
                        .collect();
                    return Err(OrderError::InsufficientStock(errors));
                }
                Placement::KeyAlreadyUsed(earlier) => {
                    let claim = claim.as_ref().ok_or_else(|| {
                        StoreError::Corrupt("key conflict reported without a key".into())
                    })?;
                    return replay(earlier, claim);
                }
                Placement::CatalogChanged => continue,
            }
        }
        Err(OrderError::CatalogBusy)
    }

    /// Prices the request from the inventory, as last read unless `afresh` (the placement
    /// checks it again): the client's prices are never used.
    async fn price(
        &self,
        user_id: UserId,
        request: &OrderRequest,
        now: OffsetDateTime,
        afresh: bool,
    ) -> Result<Order, OrderError> {
        let ids: Vec<ProductId> = request.lines.iter().map(|l| l.product_id.clone()).collect();
        let known = if afresh {
            None
        } else {
            self.known_products.all_of(&ids)
        };
        let products = match known {
            Some(known) => known,
            None => {
                let read = super::inventory::products_by_id(self.store.as_ref(), &ids).await?;
                self.known_products.remember(&read);
                read
            }
        };
        let mut unknown = Vec::new();
        let mut lines = Vec::with_capacity(request.lines.len());
        for line in &request.lines {
            match products.get(&line.product_id) {
                Some(product) => lines.push(OrderLine {
                    product_id: product.id.clone(),
                    name: product.name.clone(),
                    quantity: line.quantity,
                    unit_price: product.unit_price,
                }),
                None => unknown.push(FieldError::new(
                    format!("items[{}].productId", line.index),
                    format!("unknown product {}", line.product_id),
                )),
            }
        }
        if !unknown.is_empty() {
            return Err(OrderError::Invalid(unknown));
        }
        let order = Order::place(user_id, lines, now).map_err(|e| {
            let field = match e {
                PricingError::Overflow => "totalAmount",
                PricingError::NoLines | PricingError::MixedCurrencies => "items",
            };
            OrderError::Invalid(vec![FieldError::new(field, e.to_string())])
        })?;
        if let Some(expected) = request
            .expected_total
            .filter(|expected| *expected != order.total.minor())
        {
            return Err(OrderError::Invalid(vec![FieldError::new(
                "totalAmount",
                format!(
                    "is {expected} but the order comes to {} ({})",
                    order.total.minor(),
                    order.total
                ),
            )]));
        }
        Ok(order)
    }

    /// Cache-aside read. Another user's order is reported as not found.
    pub async fn get(
        &self,
        user_id: UserId,
        id: OrderId,
    ) -> Result<(Arc<Order>, CacheStatus), OrderError> {
        match self.cache.get(id).await {
            Ok(Some(order)) if order.user_id == user_id => return Ok((order, CacheStatus::Hit)),
            Ok(Some(_)) => return Err(OrderError::NotFound),
            Ok(None) => {}
            // The cache adapter logs an outage once; per request it is only a detail.
            Err(e) => {
                self.observer.cache_failed();
                tracing::debug!(error = %e, "order cache read failed; reading the store");
            }
        }
        let order = self.current(user_id, id).await?;
        let cacheable = match self.cache_policy {
            CachePolicy::AllOrders => true,
            CachePolicy::FinalOrdersOnly => order.status.is_terminal(),
        };
        if cacheable && let Err(e) = self.cache.put(&order).await {
            self.observer.cache_failed();
            tracing::debug!(error = %e, "order cache write failed");
        }
        Ok((Arc::new(order), CacheStatus::Miss))
    }

    pub async fn list(
        &self,
        user_id: UserId,
        status: Option<OrderStatus>,
        cursor: Option<&Cursor>,
        limit: PageLimit,
    ) -> Result<Page<Order>, OrderError> {
        let before = cursor
            .map(|c| OrderId::parse(c.key()))
            .transpose()
            .map_err(|_| OrderError::Invalid(vec![FieldError::new("cursor", "is not valid")]))?;
        let items = self
            .store
            .list_orders(user_id, status, before, limit.get() + 1)
            .await?;
        Ok(Page::from_overfetch(items, limit.get(), |o| {
            o.id.to_string()
        }))
    }

    pub async fn cancel(&self, user_id: UserId, id: OrderId) -> Result<Order, OrderError> {
        let order = self.current(user_id, id).await?;
        let transition = order
            .transition(
                OrderStatus::Cancelled,
                Some("cancelled by the customer".into()),
                crate::domain::now(),
            )
            .map_err(|e| OrderError::NotCancellable(e.from))?;
        match self.store.transition_order(&order, &transition).await? {
            Transitioned::Applied(order) => {
                announce_status_change(
                    self.cache.as_ref(),
                    self.broadcaster.as_ref(),
                    self.observer.as_ref(),
                    &order,
                )
                .await;
                Ok(order)
            }
            Transitioned::Conflict(Some(current)) => {
                Err(OrderError::NotCancellable(current.status))
            }
            Transitioned::Conflict(None) => Err(OrderError::NotFound),
        }
    }
}

fn replay(earlier: IdempotentReplay, claim: &IdempotencyClaim) -> Result<PlacedOrder, OrderError> {
    if earlier.fingerprint != claim.fingerprint {
        return Err(OrderError::IdempotencyKeyReused);
    }
    Ok(PlacedOrder {
        order: earlier.order,
        replayed: true,
    })
}

fn line_index(request: &OrderRequest, product_id: &ProductId) -> usize {
    request
        .lines
        .iter()
        .find(|l| &l.product_id == product_id)
        .map_or(0, |l| l.index)
}
