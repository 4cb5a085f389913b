use std::time::Duration;

use orderflow_core::TraceParent;
use orderflow_core::ports::Store;

use super::{given_products, given_user, now, order_of, product};

async fn three_orders(store: &dyn Store) -> Vec<orderflow_core::OrderId> {
    let user = given_user(store, "outbox@example.com").await;
    let catalog = [product("a", 100, 100)];
    given_products(store, &catalog).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let order = order_of(user, &catalog, &[("a", 1)]);
        let trace = (i == 0).then(|| TraceParent::parse(FIRST_TRACE).unwrap());
        store
            .place_order(&order, None, trace.as_ref())
            .await
            .unwrap();
        ids.push(order.id);
    }
    ids
}

/// The trace context the first of [`three_orders`] is placed with.
const FIRST_TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

pub async fn outbox_claims_are_leased_to_one_relay(store: &dyn Store) {
    let ids = three_orders(store).await;
    let lease = Duration::from_secs(60);
    let first = store.claim_outbox(2, lease, now()).await.unwrap();
    assert_eq!(
        first.iter().map(|e| e.order_id).collect::<Vec<_>>(),
        ids[..2],
        "oldest first"
    );
    assert_eq!(
        first
            .iter()
            .map(|e| e.trace_parent.as_ref().map(ToString::to_string))
            .collect::<Vec<_>>(),
        [Some(FIRST_TRACE.to_owned()), None],
        "the placing request's trace context is kept"
    );
    let second = store.claim_outbox(10, lease, now()).await.unwrap();
    assert_eq!(
        second.iter().map(|e| e.order_id).collect::<Vec<_>>(),
        ids[2..],
        "leased ones are skipped"
    );
    assert!(
        store
            .claim_outbox(10, lease, now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        3,
        "claimed is not yet published"
    );

    // A relay that died: once its lease runs out, another relay gets the entries.
    let later = now() + Duration::from_secs(61);
    let reclaimed = store.claim_outbox(10, lease, later).await.unwrap();
    assert_eq!(reclaimed.len(), 3);
}

pub async fn published_outbox_entries_are_never_claimed_again(store: &dyn Store) {
    three_orders(store).await;
    let lease = Duration::from_secs(1);
    let claimed = store.claim_outbox(10, lease, now()).await.unwrap();
    let published: Vec<String> = claimed[..2].iter().map(|e| e.id.clone()).collect();
    store.mark_outbox_sent(&published, now()).await.unwrap();
    store.retry_outbox(&claimed[2].id, now()).await.unwrap();
    assert_eq!(store.outbox_backlog().await.unwrap(), 1);
    let later = now() + Duration::from_secs(3600);
    let again = store.claim_outbox(10, lease, later).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, claimed[2].id);
    assert_eq!(store.outbox_backlog().await.unwrap(), 1);
}
