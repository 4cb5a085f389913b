use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orderflow_core::ports::{CacheError, OrderCache};
use orderflow_core::{Order, OrderId};
use quick_cache::sync::{Cache, EntryAction, EntryResult};

/// A size-bounded cache whose entries expire `ttl` after they were written.
///
/// quick_cache rather than moka: a hit is a shared lock and a hash lookup, where moka also
/// logs every read for its eviction policy. Expiry is checked when an entry is read.
#[derive(Clone)]
pub struct MemoryOrderCache {
    orders: Arc<Cache<OrderId, Written>>,
    ttl: Duration,
}

#[derive(Clone)]
struct Written {
    at: Instant,
    order: Arc<Order>,
}

impl MemoryOrderCache {
    pub fn new(max_entries: u64, ttl: Duration) -> Self {
        let max_entries = usize::try_from(max_entries).unwrap_or(usize::MAX);
        Self {
            orders: Arc::new(Cache::new(max_entries)),
            ttl,
        }
    }

    fn expired(&self, written: &Written) -> bool {
        written.at.elapsed() >= self.ttl
    }
}

#[async_trait]
impl OrderCache for MemoryOrderCache {
    async fn get(&self, id: OrderId) -> Result<Option<Arc<Order>>, CacheError> {
        let Some(written) = self.orders.get(&id) else {
            return Ok(None);
        };
        if !self.expired(&written) {
            return Ok(Some(written.order));
        }
        // Unless a newer write replaced it meanwhile.
        self.orders.remove_if(&id, |cached| cached.at == written.at);
        Ok(None)
    }

    async fn put(&self, order: &Order) -> Result<(), CacheError> {
        let fresh = || Written {
            at: Instant::now(),
            order: Arc::new(order.clone()),
        };
        let stored = self.orders.entry(&order.id, None, |_, cached| {
            if self.expired(cached) || order.is_newer_than(&cached.order) {
                *cached = fresh();
            }
            EntryAction::Retain(())
        });
        if let EntryResult::Vacant(slot) = stored {
            // Err when the order was invalidated meanwhile: then it stays out.
            let _ = slot.insert(fresh());
        }
        Ok(())
    }

    async fn invalidate(&self, id: OrderId) -> Result<(), CacheError> {
        self.orders.remove(&id);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}
