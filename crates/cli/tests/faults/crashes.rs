//! Workers SIGKILLed at random moments while orders stream in. Whatever the moment, and
//! whatever the queue's receive limit, every order that ends final has its email: exactly
//! one file with the file mailer, at least one with SES.
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use orderflow_core::ports::{InventoryStore, Queue, Store};
use orderflow_core::{OrderId, OrderStatus};
use orderflow_infra::aws::SqsQueue;
use orderflow_store::SqliteStore;
use orderflow_testkit::aws;
use orderflow_testkit::services::free_port;
use orderflow_testkit::wait::eventually_or;

use crate::helpers::{
    Http, ShowLogsOnFailure, emails_in, eventually, spawn_app_with, start_process,
    terminate_and_expect_clean_exit, unique_email,
};

const PRODUCT: &str = "sku-chaos";

/// Waits until the process logging to `log` says it is running.
pub async fn wait_until_running(log: &Path) {
    eventually(Duration::from_secs(30), "the process to be running", || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        async move { text.contains("orderflow is running").then_some(()) }
    })
    .await
}

/// xorshift64*, seeded at random and printed, so a failing run can be told apart.
struct Moments(u64);

impl Moments {
    fn seeded() -> Self {
        let seed = getrandom::u64().unwrap() | 1;
        eprintln!("kill moments seeded with {seed}");
        Self(seed)
    }

    /// A lifetime between `low` and `high` milliseconds.
    fn between(&mut self, low: u64, high: u64) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let draw = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        Duration::from_millis(low + draw % (high - low))
    }
}

/// Starts a worker with `start`, places `orders` orders through `http` spread over
/// `kills` workers' lives, and SIGKILLs each worker at a random moment of its life,
/// placements or not. Returns the orders' ids.
async fn place_while_killing_workers(
    http: &Http,
    token: &str,
    orders: usize,
    kills: usize,
    mut start: impl FnMut(usize) -> Child,
) -> Vec<String> {
    let mut moments = Moments::seeded();
    let mut ids = Vec::with_capacity(orders);
    for life in 0..kills {
        let mut worker = start(life);
        let lifetime = moments.between(50, 1_000);
        let batch = (orders - ids.len()).div_ceil(kills - life);
        let kill = async move {
            tokio::time::sleep(lifetime).await;
            worker.kill().unwrap(); // SIGKILL
            worker.wait().unwrap();
        };
        let (placed, ()) = tokio::join!(http.place_many(token, PRODUCT, batch), kill);
        ids.extend(placed);
    }
    ids
}

/// Waits until the work is done with: the queue holds nothing visible or in flight, the
/// outbox is published and every recorded email settled. Returns the final status of each
/// of `ids` that has one. An order whose every delivery a kill cut short is not final: its
/// message went to the dead-letter queue (the queue moves it there on its own, as SQS
/// does), where an operator finds it; there can be no more of them than dead letters.
async fn wait_until_done(
    store: &dyn Store,
    queue: &dyn Queue,
    ids: &[String],
) -> Vec<(OrderId, OrderStatus)> {
    eventually_or(Duration::from_secs(240), "the work done with", || async {
        let depth = queue.depth().await.unwrap();
        if depth.visible + depth.in_flight > 0 {
            return Err(format!("queue: {depth:?}"));
        }
        let unsent = store.email_backlog().await.unwrap();
        let unpublished = store.outbox_backlog().await.unwrap();
        if unsent + unpublished > 0 {
            return Err(format!(
                "{unsent} emails unsettled, {unpublished} entries unpublished"
            ));
        }
        Ok(())
    })
    .await;
    let mut finals = Vec::with_capacity(ids.len());
    let mut unfinished = Vec::new();
    for id in ids {
        let order = store
            .order(OrderId::parse(id).unwrap())
            .await
            .unwrap()
            .unwrap();
        match order.status {
            OrderStatus::Processed | OrderStatus::Failed => finals.push((order.id, order.status)),
            other => unfinished.push(format!("{id} {other}")),
        }
    }
    let dead_lettered = queue.depth().await.unwrap().dead_lettered;
    eprintln!(
        "{} orders not final, {dead_lettered} messages dead-lettered: {unfinished:?}",
        unfinished.len()
    );
    assert!(
        unfinished.len() as u64 <= dead_lettered,
        "an unfinished order without a dead letter: {unfinished:?}"
    );
    finals
}

/// How many of `ids` are final now; said, and checked to be some: the killed workers must
/// have been killed amid work, not before it.
async fn final_before_the_last_worker(store: &dyn Store, ids: &[String]) {
    let mut done = 0;
    for id in ids {
        let order = store.order(OrderId::parse(id).unwrap()).await.unwrap();
        if order.is_some_and(|o| matches!(o.status, OrderStatus::Processed | OrderStatus::Failed)) {
            done += 1;
        }
    }
    eprintln!(
        "{done} of {} orders final when the last worker started",
        ids.len()
    );
    assert!(done > 0, "the killed workers finished some of the orders");
}

fn tally(finals: &[(OrderId, OrderStatus)]) -> String {
    let failed = finals
        .iter()
        .filter(|(_, status)| *status == OrderStatus::Failed)
        .count();
    format!(
        "{} orders final: {} PROCESSED, {failed} FAILED",
        finals.len(),
        finals.len() - failed
    )
}

/// `orders` orders through `orderflow api` and the embedded queue, the worker killed
/// `kills` times; every final order has exactly one email file, named for its status.
async fn workers_killed_at_random_on_the_embedded_queue(
    max_receives: u32,
    orders: usize,
    kills: usize,
) {
    let _serial = crate::serially().await;
    let app = spawn_app_with(|args| {
        args.mongo_uri = None;
        args.queue_max_receives = Some(max_receives.to_string());
    })
    .await;
    let _logs = ShowLogsOnFailure::of(app.data_dir());
    app.seed(&[(PRODUCT, 100, 100_000)]).await;
    let token = app.user("chaos@example.com").await;
    let env = |log: &str| {
        let env = [
            ("QUEUE_MAX_RECEIVES", max_receives.to_string()),
            // A killed worker's leased emails go to the next one soon.
            ("EMAIL_LEASE", "2s".to_owned()),
        ];
        let env: Vec<_> = env.map(|(k, v)| (k.to_owned(), v)).into();
        start_process("worker", app.data_dir(), &env, None, log)
    };
    let ids = place_while_killing_workers(&app, &token, orders, kills, |life| {
        env(&format!("worker-{life}.log"))
    })
    .await;
    assert_eq!(ids.len(), orders);
    final_before_the_last_worker(app.backends.store.as_ref(), &ids).await;
    let last = env("worker-last.log");
    let finals = wait_until_done(
        app.backends.store.as_ref(),
        app.backends.queue.as_ref(),
        &ids,
    )
    .await;
    eprintln!("{}", tally(&finals));

    let mut expected: Vec<String> = finals
        .iter()
        .map(|(id, status)| format!("{id}-{}.eml", status.as_str().to_lowercase()))
        .collect();
    expected.sort();
    assert_eq!(
        emails_in(&app.mail_dir()),
        expected,
        "each final order exactly one email, none missing"
    );
    // Started after the work was done, it may still be starting.
    wait_until_running(&app.data_dir().join("worker-last.log")).await;
    terminate_and_expect_clean_exit(last, Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_kills_with_one_delivery_per_message_lose_no_email_and_double_none() {
    workers_killed_at_random_on_the_embedded_queue(1, 400, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_kills_during_five_hundred_orders_leave_each_one_email_file() {
    workers_killed_at_random_on_the_embedded_queue(5, 500, 50).await;
}

/// The store the api and worker processes share in `dir`, read by the test.
fn store_in(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_kills_on_sqs_and_ses_leave_no_final_order_without_an_email() {
    let _serial = crate::serially().await;
    let dir = tempfile::tempdir().unwrap();
    let _logs = ShowLogsOnFailure::of(dir.path());
    // SQS moves a message to the dead-letter queue on its own once its receives run out,
    // without a worker seeing its last delivery: one whose every delivery a kill cut short
    // would leave its order unfinished there, for an operator. A limit above the number of
    // kills keeps this test about emails.
    let queue_url = aws::fresh_queue("chaos", 100).await;
    let sqs_queue_url = queue_url.clone();
    let sender = format!("orders-{}@shop.example", uuid::Uuid::now_v7().simple());
    aws::verify_sender(&sender).await;
    let mut env = aws::binary_env();
    env.extend(
        [
            ("SQS_QUEUE_URL", sqs_queue_url),
            ("SQS_WAIT_TIME", "1s".to_owned()),
            ("SES_SENDER_EMAIL", sender),
            ("EMAIL_LEASE", "2s".to_owned()),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "1000".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let port = free_port();
    let api = start_process("api", dir.path(), &env, Some(port), "api.log");
    let http = Http::new(&format!("http://127.0.0.1:{port}"));
    http.wait_until_up().await;
    let store = store_in(dir.path());
    store
        .upsert_products(&[orderflow_testkit::fixtures::product(PRODUCT, 100, 100_000)])
        .await
        .unwrap();
    let email = unique_email("chaos");
    let token = http.user(&email).await;
    let ids = place_while_killing_workers(&http, &token, 500, 50, |life| {
        start_process(
            "worker",
            dir.path(),
            &env,
            None,
            &format!("worker-{life}.log"),
        )
    })
    .await;
    final_before_the_last_worker(&store, &ids).await;
    let last = start_process("worker", dir.path(), &env, None, "worker-last.log");
    let queue = SqsQueue::connect(&aws::sdk_config().await, queue_url.as_str())
        .await
        .unwrap();
    let finals = wait_until_done(&store, &queue, &ids).await;
    eprintln!("{}", tally(&finals));

    let emails = aws::emails_to(&email).await;
    for (id, _) in &finals {
        let naming = emails
            .iter()
            .filter(|e| e["subject"].as_str().unwrap().contains(&id.to_string()))
            .count();
        assert!(naming >= 1, "order {id} has no email");
    }
    eprintln!(
        "{} emails for {} orders (a kill between SES taking an email and its record may send it twice)",
        emails.len(),
        finals.len()
    );
    wait_until_running(&dir.path().join("worker-last.log")).await;
    terminate_and_expect_clean_exit(last, Duration::from_secs(30));
    terminate_and_expect_clean_exit(api, Duration::from_secs(30));
}
