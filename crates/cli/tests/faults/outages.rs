//! Faults under a steady stream of orders: a dependency made unreachable and brought back
//! while orders keep coming (the database, the queue), and the API stopped under load.
//! After each, the store's invariants hold (crate::invariants).
use std::sync::Arc;
use std::time::{Duration, Instant};

use orderflow_core::ports::{AcceptAll, Store};
use orderflow_core::{IdempotencyKey, Order, UserId};
use orderflow_store::SqliteStore;
use orderflow_testkit::aws;
use orderflow_testkit::link::FaultyLink;
use orderflow_testkit::services::{PrivateRedis, aws_endpoint, free_port, fresh_mongo_uri};
use orderflow_testkit::wait::eventually_or;
use serde_json::json;
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::helpers::{
    BINARY, Http, TestApp, eventually, spawn_serve, spawn_serve_with_env, start_process,
    terminate_and_expect_clean_exit, unique_email,
};
use crate::invariants::assert_invariants;

const PRODUCT: &str = "sku-steady";
const STOCK: u32 = 100_000;

/// One placement of the stream: its idempotency key and what came back.
struct Attempt {
    key: String,
    status: Option<u16>,
    problem_json: bool,
    took: Duration,
}

/// Places one order every `1/per_second` s for `length`, each request on its own task so a
/// slow answer does not slow the stream.
async fn place_steadily(
    base: String,
    token: String,
    per_second: u32,
    length: Duration,
) -> Vec<Attempt> {
    let http = Arc::new(Http::new(&base));
    let mut requests = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second);
    let started = Instant::now();
    while started.elapsed() < length {
        tick.tick().await;
        let (http, token) = (Arc::clone(&http), token.clone());
        requests.spawn(async move {
            let key = uuid::Uuid::now_v7().to_string();
            let sent = Instant::now();
            let answer = http
                .client
                .post(format!("{}/api/orders", http.base))
                .bearer_auth(&token)
                .header("idempotency-key", &key)
                .timeout(Duration::from_secs(30))
                .json(&json!({ "items": [{ "productId": PRODUCT, "quantity": 1 }] }))
                .send()
                .await;
            let (status, problem_json) = match &answer {
                Ok(response) => (
                    Some(response.status().as_u16()),
                    response
                        .headers()
                        .get("content-type")
                        .is_some_and(|t| t.as_bytes().starts_with(b"application/problem+json")),
                ),
                Err(_) => (None, false),
            };
            Attempt {
                key,
                status,
                problem_json,
                took: sent.elapsed(),
            }
        });
    }
    requests.join_all().await
}

/// A customer of `app` (the product seeded with ample stock) placing orders steadily, 10 a
/// second for `length`: its id, its token and email, and the stream's attempts to come.
struct SteadyCustomer {
    user: UserId,
    token: String,
    email: String,
    stream: tokio::task::JoinHandle<Vec<Attempt>>,
}

async fn steady_customer(app: &TestApp, name: &str, length: Duration) -> SteadyCustomer {
    app.seed(&[(PRODUCT, 100, STOCK)]).await;
    let email = unique_email(name);
    let token = app.user(&email).await;
    let user = user_id(&app.http, &token).await;
    let stream = tokio::spawn(place_steadily(app.base.clone(), token.clone(), 10, length));
    SteadyCustomer {
        user,
        token,
        email,
        stream,
    }
}

async fn user_id(http: &Http, token: &str) -> UserId {
    let me = http
        .get("/api/auth/me", Some(token))
        .await
        .expect(200)
        .json();
    UserId::parse(me["user"]["id"].as_str().unwrap()).unwrap()
}

/// Whether the store holds an order made by the placement with `key`.
async fn committed(store: &dyn Store, user: UserId, key: &str) -> bool {
    let key = IdempotencyKey::parse(key).unwrap();
    store
        .idempotent_replay(user, &key, OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap()
        .is_some()
}

async fn wait_until_all_processed(store: &dyn Store, user: UserId, expected: usize) {
    eventually_or(
        Duration::from_secs(120),
        "every order to be PROCESSED and its email sent",
        || unfinished(store, user, expected),
    )
    .await;
}

/// What still keeps the user's `expected` orders from being finished (PROCESSED, and its
/// email sent, which follows the status change), or `Ok` once they all are.
async fn unfinished(store: &dyn Store, user: UserId, expected: usize) -> Result<(), String> {
    let orders = crate::invariants::orders_of(store, &[user]).await;
    if orders.len() != expected {
        return Err(format!("{} of {expected} orders stored", orders.len()));
    }
    let not_processed: Vec<String> = orders
        .iter()
        .filter(|o| o.status != orderflow_core::OrderStatus::Processed)
        .map(|o| {
            let reason = o.history.last().and_then(|c| c.reason.as_deref());
            format!("{} {:?} {reason:?}", o.id, o.status)
        })
        .collect();
    if !not_processed.is_empty() {
        return Err(format!("not PROCESSED: {}", not_processed.join(", ")));
    }
    match store.email_backlog().await.unwrap() {
        0 => Ok(()),
        unsent => Err(format!("{unsent} emails recorded and not yet sent")),
    }
}

fn files_naming(dir: &std::path::Path, order: &Order) -> usize {
    crate::helpers::emails_in(dir)
        .iter()
        .filter(|name| name.starts_with(&order.id.to_string()))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_database_unreachable_placements_fail_fast_and_service_resumes_after() {
    let _serial = crate::serially().await;
    // MongoDB behind a link the test cuts; directConnection keeps the driver on the link
    // instead of the address the server advertises.
    let real = fresh_mongo_uri("faults");
    let server = real
        .split("//")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let link = FaultyLink::to(server.parse().unwrap()).await;
    let through_link = real.replacen(&server, &link.address(), 1);
    let through_link = if through_link.contains('?') {
        format!("{through_link}&directConnection=true")
    } else {
        format!("{through_link}?directConnection=true")
    };
    let app = spawn_serve(Arc::new(AcceptAll), |args| {
        args.mongo_uri = Some(through_link)
    })
    .await;
    let SteadyCustomer { user, stream, .. } =
        steady_customer(&app, "db-down", Duration::from_secs(16)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    link.cut();
    let mut readiness_during = Vec::new();
    let outage = Instant::now();
    // Longer than the driver's server selection timeout (3 s), so requests give up.
    while outage.elapsed() < Duration::from_secs(8) {
        let ready = app
            .http
            .client
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap();
        readiness_during.push(ready.status().as_u16());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    link.restore().await;
    let attempts = stream.await.unwrap();

    assert!(
        readiness_during.contains(&503),
        "/readyz during the outage: {readiness_during:?}"
    );
    let slowest = attempts.iter().map(|a| a.took).max().unwrap_or_default();
    println!("slowest placement during the database outage: {slowest:?}");
    for attempt in &attempts {
        assert!(
            attempt.took < Duration::from_secs(7),
            "a placement hung for {:?} (bounded timeouts)",
            attempt.took
        );
        match attempt.status {
            Some(201) => {}
            Some(503) => assert!(attempt.problem_json, "a 503 without problem+json"),
            other => panic!("a placement answered {other:?}"),
        }
    }
    let failed: Vec<&Attempt> = attempts.iter().filter(|a| a.status == Some(503)).collect();
    assert!(!failed.is_empty(), "the outage was felt");
    let placed = attempts.iter().filter(|a| a.status == Some(201)).count();
    assert!(
        attempts
            .iter()
            .rev()
            .take(10)
            .all(|a| a.status == Some(201)),
        "placements succeed again once the database is back, without a restart"
    );
    eventually(Duration::from_secs(30), "/readyz to recover", || async {
        let ready = app
            .http
            .client
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .ok()?;
        (ready.status() == 200).then_some(())
    })
    .await;

    let store = app.backends.store.as_ref();
    for attempt in &failed {
        assert!(
            !committed(store, user, &attempt.key).await,
            "a refused placement was half-written"
        );
    }
    wait_until_all_processed(store, user, placed).await;
    let mail = app.mail_dir();
    let orders = assert_invariants(store, &[user], &[(PRODUCT, STOCK)], |o| {
        files_naming(&mail, o)
    })
    .await;
    assert_eq!(orders.len(), placed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_queue_unreachable_placements_go_on_and_every_order_finishes_after() {
    let _serial = crate::serially().await;
    // SQS behind a link the test cuts; SES straight to the emulator.
    let endpoint = aws_endpoint();
    let emulator = endpoint.trim_start_matches("http://").to_owned();
    let link = FaultyLink::to(emulator.parse().unwrap()).await;
    let queue_url = aws::fresh_queue("faults", 5).await;
    let sender = format!("orders-{}@shop.example", uuid::Uuid::now_v7().simple());
    aws::verify_sender(&sender).await;
    let mut env = aws::binary_env();
    env.retain(|(name, _)| name != "AWS_ENDPOINT_URL");
    env.push((
        "AWS_ENDPOINT_URL".into(),
        format!("http://{}", link.address()),
    ));
    env.push(("AWS_ENDPOINT_URL_SESV2".into(), endpoint.clone()));
    let app = spawn_serve_with_env(Arc::new(AcceptAll), &env, |args| {
        args.sqs_queue_url = Some(queue_url.clone());
        args.sqs_wait_time = Some("1s".into());
        args.ses_sender_email = Some(sender.clone());
    })
    .await;
    let SteadyCustomer {
        user,
        email,
        stream,
        ..
    } = steady_customer(&app, "queue-down", Duration::from_secs(12)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    link.cut();
    tokio::time::sleep(Duration::from_secs(4)).await;
    link.restore().await;
    let attempts = stream.await.unwrap();
    for attempt in &attempts {
        assert_eq!(
            attempt.status,
            Some(201),
            "the outbox takes placements while the queue is down"
        );
    }

    let store = app.backends.store.as_ref();
    wait_until_all_processed(store, user, attempts.len()).await;
    let emails = eventually(Duration::from_secs(60), "an email per order", || async {
        let emails = aws::emails_to(&email).await;
        (emails.len() >= attempts.len()).then_some(emails)
    })
    .await;
    let orders = assert_invariants(store, &[user], &[(PRODUCT, STOCK)], |order| {
        let id = order.id.to_string();
        emails
            .iter()
            .filter(|m| m.to_string().contains(&id))
            .count()
    })
    .await;
    assert_eq!(orders.len(), attempts.len());
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_api_stopped_under_load_answers_every_request_it_accepted() {
    let _serial = crate::serially().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let catalog = dir.path().join("catalog.csv");
    std::fs::write(
        &catalog,
        format!("productId,name,unitPrice,currency,stock\n{PRODUCT},Steady,100,USD,{STOCK}\n"),
    )
    .unwrap();
    let seeded = std::process::Command::new(BINARY)
        .args(["seed", "--file"])
        .arg(&catalog)
        .env_clear()
        .env("DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(seeded.status.success(), "{seeded:?}");
    let env = [("SHUTDOWN_GRACE".to_owned(), "5s".to_owned())];
    let serve = start_process("serve", dir.path(), &env, Some(port), "serve.log");
    let base = format!("http://127.0.0.1:{port}");
    let http = Http::new(&base);
    http.wait_until_up().await;
    let email = unique_email("sigterm");
    let token = http.user(&email).await;
    let user = user_id(&http, &token).await;

    // Clients placing orders back to back until the server stops answering.
    let mut clients = JoinSet::new();
    for _ in 0..8 {
        let (base, token) = (base.clone(), token.clone());
        clients.spawn(async move {
            let client = reqwest::Client::new();
            let mut attempts = Vec::new();
            loop {
                let key = uuid::Uuid::now_v7().to_string();
                let answer = client
                    .post(format!("{base}/api/orders"))
                    .bearer_auth(&token)
                    .header("idempotency-key", &key)
                    .json(&json!({ "items": [{ "productId": PRODUCT, "quantity": 1 }] }))
                    .send()
                    .await;
                let status = answer.as_ref().ok().map(|r| r.status().as_u16());
                attempts.push((key, status));
                if status.is_none() {
                    return attempts;
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopping = Instant::now();
    terminate_and_expect_clean_exit(serve, Duration::from_secs(8));
    let stopped_in = stopping.elapsed();
    let attempts: Vec<(String, Option<u16>)> =
        clients.join_all().await.into_iter().flatten().collect();
    assert!(
        stopped_in < Duration::from_secs(8),
        "stopped in {stopped_in:?}"
    );

    let store = SqliteStore::open(dir.path()).unwrap();
    let mut answered = 0;
    for (key, status) in &attempts {
        let in_store = committed(&store, user, key).await;
        match status {
            Some(201) => {
                answered += 1;
                assert!(in_store, "a 201 without its order");
            }
            _ => assert!(
                !in_store,
                "an order was placed but its client got {status:?}"
            ),
        }
    }
    assert!(answered > 0, "orders were placed before the stop");
    // Stopped mid-stream: orders may still be PENDING; those processed have their email.
    let mail = dir.path().join("mail");
    let orders = assert_invariants(&store, &[user], &[(PRODUCT, STOCK)], |o| {
        files_naming(&mail, o)
    })
    .await;
    assert_eq!(orders.len(), answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_down_orders_are_placed_read_and_finished_from_the_store() {
    let _serial = crate::serially().await;
    let mut redis = PrivateRedis::start().await;
    // As the chart runs the API: a cache outage degrades readiness instead of taking the
    // replica out of its Service.
    let app = spawn_serve(Arc::new(AcceptAll), |args| {
        args.redis_url = Some(redis.url());
        args.readiness_optional = Some("cache".into());
    })
    .await;
    let SteadyCustomer {
        user,
        token,
        stream,
        ..
    } = steady_customer(&app, "redis-down", Duration::from_secs(10)).await;
    let before = app.place_one(&token, PRODUCT, 1).await;
    app.wait_for_status(&token, &before, "PROCESSED").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.stop();
    let outage = Instant::now();
    let mut readiness = Vec::new();
    while outage.elapsed() < Duration::from_secs(4) {
        // Reads come from the store; /readyz names the cache as the one dependency down.
        app.get(&format!("/api/orders/{before}"), Some(&token))
            .await
            .expect(200);
        let ready = app.get("/readyz", None).await;
        let body = ready.json();
        readiness.push((
            ready.status.as_u16(),
            body["status"].clone(),
            body["checks"].clone(),
        ));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    redis.restart().await;
    let attempts = stream.await.unwrap();
    for attempt in &attempts {
        assert_eq!(attempt.status, Some(201), "placements need no cache");
    }
    assert!(
        readiness.iter().all(|(status, ..)| *status == 200),
        "no 5xx from /readyz with the cache optional: {readiness:?}"
    );
    assert!(
        readiness
            .iter()
            .any(|(_, summary, checks)| summary == "degraded"
                && checks["cache"] == "down"
                && checks["store"] == "ok"),
        "/readyz during the outage: {readiness:?}"
    );
    eventually(
        Duration::from_secs(30),
        "/readyz to recover without a restart",
        || async { (app.get("/readyz", None).await.json()["status"] == "ok").then_some(()) },
    )
    .await;

    let store = app.backends.store.as_ref();
    wait_until_all_processed(store, user, attempts.len() + 1).await;
    let mail = app.mail_dir();
    assert_invariants(store, &[user], &[(PRODUCT, STOCK)], |o| {
        files_naming(&mail, o)
    })
    .await;
}
