//! The last read of each order that event streams watch, shared by all of its streams: a
//! thousand streams on one order read the store about once per recheck interval, not a
//! thousand times.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use orderflow_core::usecases::{OrderError, OrderService};
use orderflow_core::{Order, OrderId, UserId};

/// Entries kept before old ones are swept.
const SWEEP_ABOVE: usize = 4_096;

#[derive(Default)]
pub struct OrderRechecks {
    recent: Mutex<HashMap<OrderId, (Instant, Order)>>,
}

impl OrderRechecks {
    fn recent(&self) -> std::sync::MutexGuard<'_, HashMap<OrderId, (Instant, Order)>> {
        self.recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The order as read at `fresh_since` or later: from another stream's read when there
    /// is one, else from the store. An order that is not `user`'s is not found.
    pub async fn current(
        &self,
        orders: &OrderService,
        user: UserId,
        id: OrderId,
        fresh_since: Instant,
    ) -> Result<Order, OrderError> {
        let shared = self
            .recent()
            .get(&id)
            .filter(|(read_at, _)| *read_at >= fresh_since)
            .map(|(_, order)| order.clone());
        if let Some(order) = shared {
            return if order.user_id == user {
                Ok(order)
            } else {
                Err(OrderError::NotFound)
            };
        }
        let read_at = Instant::now();
        let order = orders.current(user, id).await?;
        let mut recent = self.recent();
        if recent.len() >= SWEEP_ABOVE {
            let old = read_at
                .checked_sub(Duration::from_secs(60))
                .unwrap_or(read_at);
            recent.retain(|_, (at, _)| *at >= old);
        }
        recent.insert(id, (read_at, order.clone()));
        Ok(order)
    }
}
