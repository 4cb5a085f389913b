//! The worker against the real SQLite store and queue while another writer holds the
//! database: the order waits for the store instead of using up its deliveries.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{
    InventoryStore, OrderProcessor, OrderStore, ProcessingError, Queue, Store,
};
use orderflow_core::usecases::{EmailPolicy, EmailingService, ProcessingService};
use orderflow_core::{Order, OrderStatus};
use orderflow_infra::file::FileMailer;
use orderflow_infra::memory::{MemoryOrderCache, MemoryStatusBroadcaster};
use orderflow_store::{SqliteQueue, SqliteStore};
use orderflow_telemetry::Metrics;
use orderflow_testkit::fixtures;
use orderflow_testkit::wait::{eventually, eventually_or};
use orderflow_worker::{
    CancellationToken, EmailSender, EmailSenderSettings, OutboxRelay, RelaySettings, Worker,
    WorkerSettings,
};
use support::{hold_the_write_lock, sample};

mod support;

/// How long the other writer holds the database: past the store's busy timeout (5 s), so
/// the worker's writes fail as unavailable at least once.
const HOLD: Duration = Duration::from_secs(7);

/// Accepts every order; the first time, it first has another connection take the
/// database's write lock and hold it for [`HOLD`], as another process writing would.
struct LocksTheDatabaseOnce {
    database: PathBuf,
    locked: AtomicBool,
}

#[async_trait]
impl OrderProcessor for LocksTheDatabaseOnce {
    async fn process(&self, _order: &Order) -> Result<(), ProcessingError> {
        if !self.locked.swap(true, Ordering::SeqCst) {
            hold_the_write_lock(self.database.clone(), HOLD);
        }
        Ok(())
    }
}

fn worker_settings() -> WorkerSettings {
    WorkerSettings {
        visibility: Duration::from_secs(1),
        retry_base: Duration::from_millis(100),
        wait: Duration::from_millis(200),
        ..WorkerSettings::default()
    }
}

async fn placed_order(store: &SqliteStore) -> Order {
    let user = fixtures::given_user(store, "outage@example.com").await;
    let catalog = [fixtures::product("a", 100, 10)];
    store.upsert_products(&catalog).await.unwrap();
    let order = fixtures::order_of(user, &catalog, &[("a", 1)]);
    store.place_order(&order, None, None).await.unwrap();
    order
}

fn processing(store: &Arc<SqliteStore>, dir: &Path) -> ProcessingService {
    ProcessingService::new(
        Arc::clone(store) as Arc<dyn Store>,
        Arc::new(MemoryOrderCache::new(100, Duration::from_secs(60))),
        Arc::new(MemoryStatusBroadcaster::new(16)),
        Arc::new(LocksTheDatabaseOnce {
            database: dir.join(SqliteStore::FILE_NAME),
            locked: AtomicBool::new(false),
        }),
    )
}

fn email_sender(store: &Arc<SqliteStore>, dir: &Path) -> EmailSender {
    let mailer = FileMailer::new(&dir.join("mail"), "shop <shop@example.com>").unwrap();
    let emailing = EmailingService::new(
        Arc::clone(store) as Arc<dyn Store>,
        Arc::new(mailer),
        EmailPolicy::default(),
    );
    EmailSender::new(Arc::new(emailing), EmailSenderSettings::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_on_its_only_delivery_waits_out_a_locked_database_and_is_processed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let order = placed_order(&store).await;
    // One delivery: a failure the worker let through would fail the order, or leave it
    // PROCESSING with its message dead-lettered when even that could not be written.
    let queue = Arc::new(SqliteQueue::new(&store, 1));
    let stop = CancellationToken::new();
    let relay = OutboxRelay::new(
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::clone(&queue) as Arc<dyn Queue>,
        RelaySettings::default(),
    );
    let metrics = Arc::new(Metrics::new());
    let worker = Worker::new(
        Arc::clone(&queue) as Arc<dyn Queue>,
        Arc::new(processing(&store, dir.path())),
        worker_settings(),
    )
    .with_metrics(Arc::clone(&metrics));
    let running = [
        tokio::spawn(relay.run(stop.clone())),
        tokio::spawn(worker.run(stop.clone())),
        tokio::spawn(email_sender(&store, dir.path()).run(stop.clone())),
    ];

    // While the database is held, operators see the order waiting for the store.
    eventually(
        HOLD + Duration::from_secs(5),
        "the order counted as waiting for the store",
        || async { (sample(&metrics, WAITING) == 1.0).then_some(()) },
    )
    .await;
    let processed = eventually_or(HOLD + Duration::from_secs(30), "a final status", || async {
        let current = store.order(order.id).await.unwrap().unwrap();
        match current.status {
            OrderStatus::Pending | OrderStatus::Processing => {
                Err(format!("the order is still {}", current.status))
            }
            _ => Ok(current),
        }
    })
    .await;
    assert_eq!(processed.status, OrderStatus::Processed, "{processed:?}");
    let email = dir
        .path()
        .join("mail")
        .join(format!("{}-processed.eml", order.id));
    eventually(Duration::from_secs(10), "the email", || async {
        email.exists().then_some(())
    })
    .await;
    let depth = queue.depth().await.unwrap();
    assert_eq!(depth.dead_lettered, 0, "{depth:?}");
    assert_eq!(
        sample(&metrics, WAITING),
        0.0,
        "no order waits once it is processed"
    );
    assert!(
        sample(&metrics, RETRIES) >= 1.0,
        "the tries in place are counted"
    );

    stop.cancel();
    for task in running {
        task.await.unwrap();
    }
}

const WAITING: &str = "orderflow_worker_orders_waiting_for_store";
const RETRIES: &str = "orderflow_worker_store_retries_total";
