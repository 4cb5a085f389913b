use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{Order, OrderId};

#[derive(Debug, thiserror::Error)]
#[error("the cache is unavailable: {0}")]
pub struct CacheError(pub String);

/// A read-through copy of orders. Losing it loses nothing: the store is the truth.
#[async_trait]
pub trait OrderCache: Send + Sync {
    /// Shared, not copied: a hit from a cache in the process is a reference count, not an
    /// allocation per line and status change.
    async fn get(&self, id: OrderId) -> Result<Option<Arc<Order>>, CacheError>;
    /// Caches `order` unless the cache already holds a newer version of it: a reader
    /// filling the cache with what it read before a writer's change must not undo that
    /// change's refresh.
    async fn put(&self, order: &Order) -> Result<(), CacheError>;
    async fn invalidate(&self, id: OrderId) -> Result<(), CacheError>;
    async fn ping(&self) -> Result<(), CacheError>;
}
