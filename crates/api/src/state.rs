use std::sync::Arc;

use orderflow_core::ports::{
    AccessTokens, OrderCache, PasswordHasher, PipelineObserver, Queue, RateLimiter,
    StatusBroadcaster, Store,
};
use orderflow_core::usecases::{AuthService, InventoryService, OrderService};
use orderflow_telemetry::Metrics;

use crate::ApiSettings;
use crate::encoded_orders::EncodedOrders;
use crate::open_streams::OpenStreams;
use crate::order_rechecks::OrderRechecks;

/// The adapters the API runs on, chosen by the binary.
pub struct Dependencies {
    pub store: Arc<dyn Store>,
    pub cache: Arc<dyn OrderCache>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub password_hasher: Arc<dyn PasswordHasher>,
    pub access_tokens: Arc<dyn AccessTokens>,
    pub broadcaster: Arc<dyn StatusBroadcaster>,
    /// The queue the outbox relay publishes to (checked by `/readyz`).
    pub queue: Arc<dyn Queue>,
    /// Where requests and orders are counted; served on `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// What every handler can reach: the use cases, built once. One `Arc`, so the per-request
/// clones axum makes cost one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub(crate) auth: Arc<AuthService>,
    pub(crate) orders: Arc<OrderService>,
    pub(crate) inventory: Arc<InventoryService>,
    pub(crate) rate_limiter: Arc<dyn RateLimiter>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) cache: Arc<dyn OrderCache>,
    pub(crate) broadcaster: Arc<dyn StatusBroadcaster>,
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) settings: Arc<ApiSettings>,
    pub(crate) encoded_orders: EncodedOrders,
    pub(crate) streams: Arc<OpenStreams>,
    pub(crate) rechecks: OrderRechecks,
}

impl AppState {
    pub fn new(deps: Dependencies, settings: ApiSettings) -> Self {
        Self(Arc::new(Shared {
            auth: Arc::new(AuthService::new(
                Arc::clone(&deps.store),
                deps.password_hasher,
                deps.access_tokens,
                settings.refresh_token_ttl,
            )),
            orders: Arc::new(
                OrderService::new(
                    Arc::clone(&deps.store),
                    Arc::clone(&deps.cache),
                    settings.cache_policy,
                    Arc::clone(&deps.broadcaster),
                )
                .with_observer(Arc::clone(&deps.metrics) as Arc<dyn PipelineObserver>),
            ),
            inventory: Arc::new(InventoryService::new(Arc::clone(&deps.store))),
            rate_limiter: deps.rate_limiter,
            store: deps.store,
            cache: deps.cache,
            broadcaster: deps.broadcaster,
            queue: deps.queue,
            metrics: deps.metrics,
            streams: OpenStreams::new(settings.event_streams),
            rechecks: OrderRechecks::default(),
            settings: Arc::new(settings),
            encoded_orders: EncodedOrders::new(),
        }))
    }
}
