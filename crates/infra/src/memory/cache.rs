use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::ops::compute::Op;
use moka::sync::Cache;
use orderflow_core::ports::{CacheError, OrderCache};
use orderflow_core::{Order, OrderId};

/// An LRU-bounded cache whose entries expire `ttl` after they were written.
#[derive(Clone)]
pub struct MemoryOrderCache {
    orders: Cache<OrderId, Arc<Order>>,
}

impl MemoryOrderCache {
    pub fn new(max_entries: u64, ttl: Duration) -> Self {
        Self {
            orders: Cache::builder()
                .max_capacity(max_entries)
                .time_to_live(ttl)
                .build(),
        }
    }
}

#[async_trait]
impl OrderCache for MemoryOrderCache {
    async fn get(&self, id: OrderId) -> Result<Option<Arc<Order>>, CacheError> {
        Ok(self.orders.get(&id))
    }

    async fn put(&self, order: &Order) -> Result<(), CacheError> {
        self.orders
            .entry(order.id)
            .and_compute_with(|cached| match cached {
                Some(cached) if !order.is_newer_than(cached.value()) => Op::Nop,
                _ => Op::Put(Arc::new(order.clone())),
            });
        Ok(())
    }

    async fn invalidate(&self, id: OrderId) -> Result<(), CacheError> {
        self.orders.invalidate(&id);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}
