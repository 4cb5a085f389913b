//! The relay and worker beside the API yield to its requests: while they are many, each
//! takes one batch a turn; once they are fewer, the rest at once. Real SQLite store and
//! queue; the requests in flight are counted as the API's edge counts them.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use orderflow_core::ports::{
    AcceptAll, InventoryStore, OrderStore, OutboxStore, PipelineObserver, Queue, Store,
};
use orderflow_core::usecases::ProcessingService;
use orderflow_infra::memory::{MemoryOrderCache, MemoryStatusBroadcaster};
use orderflow_store::{SqliteQueue, SqliteStore};
use orderflow_telemetry::{Held, Metrics};
use orderflow_testkit::fixtures;
use orderflow_testkit::wait::eventually;
use orderflow_worker::{
    CancellationToken, OutboxRelay, RelaySettings, Worker, WorkerSettings, YieldToRequests,
};
use support::sample;

mod support;

const ORDERS: usize = 30;
const BATCH: u32 = 10;
const PROCESSED: &str = r#"orderflow_orders_processed_total{outcome="processed"}"#;
const WORKER_YIELDED: &str = r#"orderflow_background_yielded_seconds_total{work="worker"}"#;
const RELAY_YIELDED: &str = r#"orderflow_background_yielded_seconds_total{work="relay"}"#;

/// Yields from 2 requests in flight on average; its first turn comes at once and its next
/// one not in these tests.
const POLICY: YieldToRequests = YieldToRequests {
    at_requests: 2,
    turn: Duration::from_secs(3600),
    batch: BATCH,
};

/// Enough requests in flight that the average of the first look at them (a quarter of
/// what it sees) is already the policy's.
fn many_requests(metrics: &Metrics) -> Vec<Held> {
    (0..4 * POLICY.at_requests)
        .map(|_| metrics.request_started())
        .collect()
}

/// What both tests start from: a store with [`ORDERS`] orders placed, their outbox entries
/// not yet published, its queue, and requests in flight (as the API's edge counts them)
/// before any background work starts.
struct Scene {
    dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    queue: Arc<SqliteQueue>,
    metrics: Arc<Metrics>,
    requests: Vec<Held>,
}

async fn placed_orders_while_requests_are_many() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let user = fixtures::given_user(store.as_ref(), "yield@example.com").await;
    let catalog = [fixtures::product("a", 100, 1_000)];
    store.upsert_products(&catalog).await.unwrap();
    for _ in 0..ORDERS {
        let order = fixtures::order_of(user, &catalog, &[("a", 1)]);
        store.place_order(&order, None, None).await.unwrap();
    }
    let queue = Arc::new(SqliteQueue::new(&store, 5));
    let metrics = Arc::new(Metrics::new());
    let requests = many_requests(&metrics);
    Scene {
        dir,
        store,
        queue,
        metrics,
        requests,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_takes_one_batch_a_turn_while_requests_are_many_and_the_rest_once_they_are_fewer()
{
    let Scene {
        dir: _dir,
        store,
        queue,
        metrics,
        requests,
    } = placed_orders_while_requests_are_many().await;
    let processing = ProcessingService::new(
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::new(MemoryOrderCache::new(100, Duration::from_secs(60))),
        Arc::new(MemoryStatusBroadcaster::new(16)),
        Arc::new(AcceptAll),
    )
    .with_observer(Arc::clone(&metrics) as Arc<dyn PipelineObserver>);
    let settings = WorkerSettings {
        batch: BATCH,
        wait: Duration::from_millis(200),
        yield_to_requests: Some(POLICY),
        ..WorkerSettings::default()
    };
    let worker = Worker::new(
        Arc::clone(&queue) as Arc<dyn Queue>,
        Arc::new(processing),
        settings,
    )
    .with_metrics(Arc::clone(&metrics));
    let relay = OutboxRelay::new(
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::clone(&queue) as Arc<dyn Queue>,
        RelaySettings::default(),
    );
    let stop = CancellationToken::new();
    let relaying = tokio::spawn(relay.run(stop.clone()));
    // Every message in the queue before the worker's turn, so that its turn takes a batch.
    eventually(
        Duration::from_secs(10),
        "every order in the queue",
        || async { (queue.depth().await.unwrap().visible == ORDERS as u64).then_some(()) },
    )
    .await;
    let working = tokio::spawn(worker.run(stop.clone()));

    // Its turn: one batch, processed.
    eventually(
        Duration::from_secs(10),
        "the first batch processed",
        || async { (sample(&metrics, PROCESSED) == f64::from(BATCH)).then_some(()) },
    )
    .await;
    // And nothing more while the requests stay: without its turns the worker would have
    // processed all of them in a fraction of this.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(sample(&metrics, PROCESSED), f64::from(BATCH));
    let depth = queue.depth().await.unwrap();
    assert_eq!(depth.visible, (ORDERS - BATCH as usize) as u64, "{depth:?}");
    let yielded = sample(&metrics, WORKER_YIELDED);
    assert!(yielded >= 0.5, "the time yielded is counted: {yielded}");

    // All but one answered: fewer than the policy's, so the worker takes the rest.
    drop(requests);
    let _one_left = metrics.request_started();
    eventually(Duration::from_secs(10), "every order processed", || async {
        (sample(&metrics, PROCESSED) == ORDERS as f64).then_some(())
    })
    .await;

    stop.cancel();
    relaying.await.unwrap();
    working.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_publishes_one_batch_a_turn_while_requests_are_many_and_the_rest_once_they_are_fewer()
 {
    let Scene {
        dir: _dir,
        store,
        queue,
        metrics,
        requests,
    } = placed_orders_while_requests_are_many().await;
    let relay = OutboxRelay::new(
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::clone(&queue) as Arc<dyn Queue>,
        RelaySettings {
            yield_to_requests: Some(POLICY),
            ..RelaySettings::default()
        },
    )
    .with_metrics(Arc::clone(&metrics));
    let stop = CancellationToken::new();
    let relaying = tokio::spawn(relay.run(stop.clone()));

    let published = || async { queue.depth().await.unwrap().visible };
    eventually(
        Duration::from_secs(10),
        "the first batch published",
        || async { (published().await == u64::from(BATCH)).then_some(()) },
    )
    .await;
    // Its batch is the policy's, not its own 100, and no other follows while the requests
    // stay.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(published().await, u64::from(BATCH));
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        (ORDERS - BATCH as usize) as u64
    );
    let yielded = sample(&metrics, RELAY_YIELDED);
    assert!(yielded >= 0.5, "the time yielded is counted: {yielded}");

    drop(requests);
    eventually(Duration::from_secs(10), "every order published", || async {
        (published().await == ORDERS as u64).then_some(())
    })
    .await;

    stop.cancel();
    relaying.await.unwrap();
}
