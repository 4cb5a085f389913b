use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use orderflow_core::ports::{CacheError, OrderCache};
use orderflow_core::{Order, OrderId};

use super::Dependency;
use crate::Metrics;

/// An [`OrderCache`] on a cache server whose every call is a client span (`db.*`
/// attributes) and a `dependency="cache"` duration. (A cache inside the process is no
/// dependency and is left bare.)
pub struct InstrumentedCache {
    inner: Arc<dyn OrderCache>,
    dependency: Dependency,
}

impl InstrumentedCache {
    /// `system` is the OpenTelemetry `db.system.name`: `redis`.
    pub fn new(inner: Arc<dyn OrderCache>, system: &'static str, metrics: Arc<Metrics>) -> Self {
        Self {
            inner,
            dependency: Dependency {
                kind: "cache",
                system,
                metrics,
            },
        }
    }

    async fn call<T>(
        &self,
        operation: &'static str,
        work: impl Future<Output = Result<T, CacheError>>,
    ) -> Result<T, CacheError> {
        let span = self.dependency.db_span(operation);
        self.dependency.call(operation, span, work).await
    }
}

#[async_trait]
impl OrderCache for InstrumentedCache {
    async fn get(&self, id: OrderId) -> Result<Option<Arc<Order>>, CacheError> {
        self.call("get", self.inner.get(id)).await
    }

    async fn put(&self, order: &Order) -> Result<(), CacheError> {
        self.call("put", self.inner.put(order)).await
    }

    async fn invalidate(&self, id: OrderId) -> Result<(), CacheError> {
        self.call("invalidate", self.inner.invalidate(id)).await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.call("ping", self.inner.ping()).await
    }
}
