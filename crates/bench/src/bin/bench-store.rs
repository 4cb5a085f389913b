//! The store's own placement rate: `place_order` transactions on SQLite from `--tasks`
//! concurrent tasks for `--seconds`, with no HTTP in the way: the ceiling the API's
//! `POST /api/orders` is measured against.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use orderflow_core::ports::{InventoryStore, OrderStore, Placement};
use orderflow_store::SqliteStore;
use orderflow_testkit::fixtures::{given_user, order_of, product};
use serde_json::json;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 32)]
    tasks: usize,
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = std::env::temp_dir().join(format!(
        "orderflow-bench-store-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let store = Arc::new(SqliteStore::open(&dir)?);
    let catalog = vec![product("sku-bench", 100, u32::MAX / 2)];
    store.upsert_products(&catalog).await?;
    let user = given_user(store.as_ref(), "bench@example.com").await;
    let placed = Arc::new(AtomicUsize::new(0));
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.tasks {
        let (store, placed, catalog) = (Arc::clone(&store), Arc::clone(&placed), catalog.clone());
        tasks.spawn(async move {
            while Instant::now() < until {
                let order = order_of(user, &catalog, &[("sku-bench", 1)]);
                if let Ok(Placement::Placed(_)) = store.place_order(&order, None, None).await {
                    placed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    tasks.join_all().await;
    let took = started.elapsed().as_secs_f64();
    let placed = placed.load(Ordering::Relaxed);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{}",
        json!({ "placed": placed, "rate": placed as f64 / took })
    );
    Ok(())
}
