//! The JSON of the orders read most, kept by version, so reading the same order again
//! sends the bytes already written instead of encoding it on every read. An order's
//! version (its status history's length) changes with every status change, so an entry is
//! used only for the version it was written from, whichever cache or store the order came from.
//! Kept for the cached reads' target (docs/BENCHMARKS.md).
use axum::body::Bytes;
use orderflow_core::{Order, OrderId};
use quick_cache::sync::{Cache, EntryAction, EntryResult};

use crate::dto::OrderView;

/// How many orders' JSON is kept: enough for the orders being read right now (about 1 KiB
/// each), far fewer than the order cache holds.
const HOT_ORDERS: usize = 4_096;

#[derive(Clone)]
struct Encoded {
    version: usize,
    json: Bytes,
}

pub(crate) struct EncodedOrders {
    /// quick_cache rather than moka: a hit here is a shared lock and a hash lookup, where
    /// moka also logs every read for its eviction policy, on the cached read's hot path.
    orders: Cache<OrderId, Encoded>,
}

impl EncodedOrders {
    pub(crate) fn new() -> Self {
        Self {
            orders: Cache::new(HOT_ORDERS),
        }
    }

    /// `order` as the JSON of `GET /api/orders/:id`, encoded once per version.
    pub(crate) fn json(&self, order: &Order) -> Result<Bytes, serde_json::Error> {
        if let Some(encoded) = self.orders.get(&order.id)
            && encoded.version == order.version()
        {
            return Ok(encoded.json);
        }
        let json = Bytes::from(serde_json::to_vec(&OrderView::from(order))?);
        let version = order.version();
        let encoded = Encoded {
            version,
            json: json.clone(),
        };
        // A concurrent read of a newer version may have stored it first: keep the newer one.
        let stored = self.orders.entry(&order.id, None, |_, cached| {
            if cached.version < version {
                *cached = encoded.clone();
            }
            EntryAction::Retain(())
        });
        if let EntryResult::Vacant(slot) = stored {
            // Err when the order was dropped from the memo meanwhile: then it is not kept.
            let _ = slot.insert(encoded);
        }
        Ok(json)
    }
}

#[cfg(test)]
mod tests {
    use orderflow_core::{OrderStatus, UserId};
    use orderflow_testkit::fixtures;

    use super::*;

    fn pending_order() -> Order {
        let catalog = [fixtures::product("sku-1", 1999, 10)];
        fixtures::order_of(UserId::generate(), &catalog, &[("sku-1", 2)])
    }

    fn started(order: &mut Order) {
        let start = order
            .transition(OrderStatus::Processing, None, orderflow_core::now())
            .expect("PENDING may start processing");
        order.apply(&start).expect("the order is PENDING");
    }

    fn decoded(json: &Bytes) -> serde_json::Value {
        serde_json::from_slice(json).expect("the memo holds JSON")
    }

    #[test]
    fn the_same_version_is_encoded_once_and_a_new_version_again() {
        let memo = EncodedOrders::new();
        let mut order = pending_order();
        let first = memo.json(&order).expect("encodes");
        let again = memo.json(&order).expect("encodes");
        assert_eq!(
            first.as_ptr(),
            again.as_ptr(),
            "the second read reuses the bytes"
        );
        assert_eq!(decoded(&first)["status"], "PENDING");

        started(&mut order);
        let changed = memo.json(&order).expect("encodes");
        assert_eq!(decoded(&changed)["status"], "PROCESSING");
        assert_eq!(
            decoded(&changed),
            serde_json::to_value(OrderView::from(&order)).expect("encodes"),
            "the memo answers what encoding the order answers"
        );
    }

    #[test]
    fn an_older_version_read_late_does_not_replace_a_newer_one() {
        let memo = EncodedOrders::new();
        let older = pending_order();
        let mut newer = older.clone();
        started(&mut newer);
        let newest = memo.json(&newer).expect("encodes");
        assert_eq!(
            decoded(&memo.json(&older).expect("encodes"))["status"],
            "PENDING"
        );
        let kept = memo.json(&newer).expect("encodes");
        assert_eq!(
            kept.as_ptr(),
            newest.as_ptr(),
            "the newer version's bytes were kept"
        );
    }
}
