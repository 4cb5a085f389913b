//! The last read of each order that event streams watch, shared by all of its streams: a
//! thousand streams on one order read the store about once per recheck interval, not a
//! thousand times. Reads of one order are made one at a time, so streams whose timers fire
//! while a read is on its way take that read instead of making their own.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orderflow_core::usecases::{OrderError, OrderService};
use orderflow_core::{Order, OrderId, UserId};

/// Orders kept before those not read for a minute are swept.
const SWEEP_ABOVE: usize = 4_096;

type LastRead = Arc<tokio::sync::Mutex<Option<(Instant, Order)>>>;

#[derive(Default)]
pub struct OrderRechecks {
    orders: Mutex<HashMap<OrderId, LastRead>>,
}

impl OrderRechecks {
    fn last_read(&self, id: OrderId) -> LastRead {
        let mut orders = self
            .orders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if orders.len() >= SWEEP_ABOVE {
            let old = Instant::now().checked_sub(Duration::from_secs(60));
            orders.retain(|_, last| match last.try_lock() {
                Ok(last) => last.as_ref().is_some_and(|(at, _)| Some(*at) >= old),
                Err(_) => true,
            });
        }
        Arc::clone(orders.entry(id).or_default())
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
        let slot = self.last_read(id);
        let mut last = slot.lock().await;
        if let Some((_, order)) = last.as_ref().filter(|(at, _)| *at >= fresh_since) {
            return if order.user_id == user {
                Ok(order.clone())
            } else {
                Err(OrderError::NotFound)
            };
        }
        let read_at = Instant::now();
        let order = orders.current(user, id).await?;
        *last = Some((read_at, order.clone()));
        Ok(order)
    }
}
