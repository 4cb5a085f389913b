//! The outbox relay against the real SQLite store and queue.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use orderflow_core::ports::{InventoryStore, OrderStore, OutboxStore, Queue, Store};
use orderflow_core::{Order, OrderMessage};
use orderflow_store::{SqliteQueue, SqliteStore};
use orderflow_testkit::fixtures;
use orderflow_testkit::wait::eventually;
use orderflow_worker::{CancellationToken, OutboxRelay, RelaySettings};

async fn store_with_orders(dir: &std::path::Path, count: usize) -> (Arc<SqliteStore>, Vec<Order>) {
    let store = Arc::new(SqliteStore::open(dir).unwrap());
    let user = fixtures::given_user(store.as_ref(), "relay@example.com").await;
    let catalog = [fixtures::product("a", 100, 100_000)];
    store.upsert_products(&catalog).await.unwrap();
    let mut orders = Vec::new();
    for _ in 0..count {
        let order = fixtures::order_of(user, &catalog, &[("a", 1)]);
        store.place_order(&order, None, None).await.unwrap();
        orders.push(order);
    }
    (store, orders)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_relays_publish_each_entry_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, orders) = store_with_orders(dir.path(), 300).await;
    let queue = Arc::new(SqliteQueue::new(&store, 5));
    let settings = RelaySettings {
        batch: 7,
        ..RelaySettings::default()
    };
    let stop = CancellationToken::new();
    let relays: Vec<_> = (0..3)
        .map(|_| {
            let relay = OutboxRelay::new(
                Arc::clone(&store) as Arc<dyn Store>,
                Arc::clone(&queue) as Arc<dyn Queue>,
                settings.clone(),
            );
            tokio::spawn(relay.run(stop.clone()))
        })
        .collect();
    eventually(
        Duration::from_secs(30),
        "the relays to drain the outbox",
        || async { (store.outbox_backlog().await.unwrap() == 0).then_some(()) },
    )
    .await;
    stop.cancel();
    for relay in relays {
        relay.await.unwrap();
    }

    let mut published = Vec::new();
    loop {
        let batch = queue
            .receive(10, Duration::ZERO, Duration::from_secs(60))
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        for message in batch {
            assert_eq!(
                message.attributes.get("orderId"),
                Some(
                    &OrderMessage::parse(&message.body)
                        .unwrap()
                        .order_id
                        .to_string()
                )
            );
            published.push(OrderMessage::parse(&message.body).unwrap().order_id);
        }
    }
    assert_eq!(published.len(), 300, "no entry published twice");
    let expected: BTreeSet<_> = orders.iter().map(|o| o.id).collect();
    assert_eq!(published.into_iter().collect::<BTreeSet<_>>(), expected);
}

#[tokio::test]
async fn published_entries_are_not_published_again() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_orders(dir.path(), 2).await;
    let relay = OutboxRelay::new(
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::new(SqliteQueue::new(&store, 5)),
        RelaySettings::default(),
    );
    assert_eq!(relay.relay_once().await.unwrap(), 2);
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    assert_eq!(
        relay.relay_once().await.unwrap(),
        0,
        "nothing is published twice"
    );
}
