//! What must hold in the store after any fault: no stock created or lost, every order's
//! history a legal path, every finished order emailed exactly once.
use std::collections::BTreeMap;

use orderflow_core::ports::Store;
use orderflow_core::{Order, OrderStatus, ProductId, UserId};

/// Every order of `users`, read from the store page by page.
pub async fn orders_of(store: &dyn Store, users: &[UserId]) -> Vec<Order> {
    let mut orders = Vec::new();
    for user in users {
        let mut before = None;
        loop {
            let page = store.list_orders(*user, None, before, 100).await.unwrap();
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            orders.extend(page);
        }
    }
    orders
}

/// Asserts the invariants over every order of `users`:
/// - for each product of `starting_stock`, the stock left plus the units held by orders
///   that did not give theirs back equals the starting stock;
/// - each history starts PENDING, moves only along allowed transitions, names each status
///   once and ends in the order's status;
/// - each PROCESSED or FAILED order has exactly one email (`emails` counts them).
pub async fn assert_invariants(
    store: &dyn Store,
    users: &[UserId],
    starting_stock: &[(&str, u32)],
    emails: impl Fn(&Order) -> usize,
) -> Vec<Order> {
    let orders = orders_of(store, users).await;
    let mut held: BTreeMap<ProductId, u64> = BTreeMap::new();
    for order in &orders {
        let statuses: Vec<OrderStatus> = order.history.iter().map(|c| c.status).collect();
        assert_eq!(statuses.first(), Some(&OrderStatus::Pending), "{order:?}");
        assert_eq!(statuses.last(), Some(&order.status), "{order:?}");
        for pair in statuses.windows(2) {
            assert!(pair[0].can_become(pair[1]), "illegal step in {statuses:?}");
        }
        let mut distinct = statuses.clone();
        distinct.sort_by_key(|s| format!("{s:?}"));
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            statuses.len(),
            "a status twice: {statuses:?}"
        );
        if !order.status.releases_stock() {
            for line in &order.lines {
                *held.entry(line.product_id.clone()).or_default() += u64::from(line.quantity.get());
            }
        }
        if matches!(order.status, OrderStatus::Processed | OrderStatus::Failed) {
            assert_eq!(
                emails(order),
                1,
                "order {} has {} emails",
                order.id,
                emails(order)
            );
        }
    }
    for (product, start) in starting_stock {
        let id = ProductId::parse(product).unwrap();
        let left = store.product(&id).await.unwrap().unwrap().stock;
        let held = held.get(&id).copied().unwrap_or(0);
        assert_eq!(
            u64::from(left) + held,
            u64::from(*start),
            "{product}: {left} left + {held} held by orders != {start} at the start"
        );
    }
    orders
}
