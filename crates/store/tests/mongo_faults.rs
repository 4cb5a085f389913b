//! MongoDB faults against a test server of the test's own: a standalone server is refused
//! with advice, and a server killed in the middle of placements leaves no half-written order.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orderflow_core::ports::{InventoryStore, OrderStore, OutboxStore, Placement};
use orderflow_core::{Order, Product, UserId};
use orderflow_store::{MongoStore, MongoStoreError};
use orderflow_testkit::fixtures;
use orderflow_testkit::services::free_port;

fn secantusd() -> String {
    std::env::var("ORDERFLOW_TEST_SECANTUSD").unwrap_or_else(|_| {
        panic!(
            "ORDERFLOW_TEST_SECANTUSD is not set: it names the MongoDB test server's launcher, \
             which scripts/test-services.sh installs; these tests are not skipped"
        )
    })
}

/// Starts a server of our own on `port`, keeping its data in `storage` across restarts.
fn start_server(port: u16, storage: &Path, extra: &[&str]) -> Child {
    let mut child = Command::new(secantusd())
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--log-level",
            "WARNING",
        ])
        .arg("--storage-path")
        .arg(storage)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the test server exited: {status}");
        }
        assert!(Instant::now() < deadline, "the test server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

#[tokio::test]
async fn a_standalone_server_is_refused_with_advice() {
    let storage = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start_server(port, storage.path(), &["--standalone"]);
    let error = MongoStore::connect(&format!("mongodb://127.0.0.1:{port}/?retryWrites=false"))
        .await
        .err()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        matches!(error, MongoStoreError::NoTransactions { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("replica set") && message.contains("rs.initiate()"),
        "{message}"
    );
}

async fn seeded(store: &MongoStore, stock: u32) -> (UserId, Product) {
    let user = fixtures::given_user(store, "faulty@example.com").await;
    let hot = fixtures::product("sku-hot", 500, stock);
    store
        .upsert_products(std::slice::from_ref(&hot))
        .await
        .unwrap();
    (user, hot)
}

fn order_of(user: UserId, product: &Product, quantity: i64) -> Order {
    fixtures::order_of(
        user,
        std::slice::from_ref(product),
        &[(product.id.as_str(), quantity)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_database_mid_placement_leaves_no_half_written_order() {
    const STOCK: u32 = 100_000;
    let storage = tempfile::tempdir().unwrap();
    let port = free_port();
    let uri = format!(
        "mongodb://127.0.0.1:{port}/faults?retryWrites=false&serverSelectionTimeoutMS=1000"
    );
    // Journaled commits, as a production replica set acknowledges them.
    let durable = ["--sync-on-commit"];
    let mut server = start_server(port, storage.path(), &durable);
    let store = Arc::new(MongoStore::connect(&uri).await.unwrap());
    let (user, product) = seeded(&store, STOCK).await;

    // Eight clients place orders of 1 to 3 units without pause until the server dies.
    let placed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let (store, product, placed) =
                (Arc::clone(&store), product.clone(), Arc::clone(&placed));
            tokio::spawn(async move {
                for n in 0.. {
                    let order = order_of(user, &product, 1 + (client + n) % 3);
                    match store.place_order(&order, None, None).await {
                        Ok(Placement::Placed(_)) => {
                            placed.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(other) => panic!("unexpected {other:?}"),
                        // The server is gone: this client stops.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while placed.load(Ordering::Relaxed) < 40 {
        assert!(Instant::now() < deadline, "no placements went through");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().unwrap(); // SIGKILL, in the middle of transactions
    server.wait().unwrap();
    for client in clients {
        tokio::time::timeout(Duration::from_secs(60), client)
            .await
            .expect("placements fail while the server is down")
            .unwrap();
    }

    let mut server = start_server(port, storage.path(), &durable);
    let store = MongoStore::connect(&uri).await.unwrap();
    let mut orders = Vec::new();
    let mut before = None;
    loop {
        let page = store.list_orders(user, None, before, 100).await.unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id);
        orders.extend(page);
    }
    let outbox: BTreeSet<_> = store
        .claim_outbox(
            1_000_000,
            std::time::Duration::from_secs(60),
            orderflow_core::now(),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|entry| entry.order_id)
        .collect();
    let stock = store.product(&product.id).await.unwrap().unwrap().stock;
    server.kill().unwrap();
    server.wait().unwrap();

    let acknowledged = placed.load(Ordering::Relaxed);
    assert!(
        orders.len() >= acknowledged,
        "{} orders survived of {acknowledged} acknowledged",
        orders.len()
    );
    let ordered: BTreeSet<_> = orders.iter().map(|o| o.id).collect();
    assert_eq!(
        ordered, outbox,
        "every order has its outbox entry and no entry lacks its order"
    );
    let reserved: u32 = orders
        .iter()
        .flat_map(|o| &o.lines)
        .map(|l| l.quantity.get())
        .sum();
    assert_eq!(
        stock + reserved,
        STOCK,
        "every order's stock is reserved, and only theirs"
    );
}
