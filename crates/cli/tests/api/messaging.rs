//! The production messaging path: Redis (cache, rate limits, status stream), SQS and SES on
//! their test servers, with SQLite or the MongoDB test server as the store; `orderflow api`
//! and `orderflow worker` as separate processes.
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use orderflow_core::ports::Queue;
use orderflow_infra::aws::SqsQueue;
use orderflow_testkit::aws;
use orderflow_testkit::services::{PrivateRedis, free_port, fresh_redis_prefix, redis_url};
use reqwest::Method;
use serde_json::json;
use tempfile::TempDir;

use crate::helpers::{
    Http, ShowLogsOnFailure, eventually, spawn_app_with, spawn_serve_with_env, start_process,
    terminate_and_expect_clean_exit, test_mongo_uri, unique_email,
};
use crate::processing::AlwaysDown;

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A fresh queue (with its dead-letter queue), a verified sender, a Redis key space and a
/// store of their own; what a deployment's api and worker share.
struct Deployment {
    /// Declared first, so dropped while `dir` still holds the logs.
    _logs: ShowLogsOnFailure,
    dir: TempDir,
    env: Vec<(String, String)>,
    queue_url: String,
    sender: String,
    redis_prefix: String,
}

impl Deployment {
    async fn new(max_receives: u32) -> Self {
        let queue_url = aws::fresh_queue("e2e", max_receives).await;
        let sender = format!("orders-{}@shop.example", uuid::Uuid::now_v7().simple());
        aws::verify_sender(&sender).await;
        let redis_prefix = fresh_redis_prefix("e2e");
        let mut env = aws::binary_env();
        env.extend(
            [
                ("REDIS_URL", redis_url()),
                ("REDIS_KEY_PREFIX", redis_prefix.clone()),
                ("SQS_QUEUE_URL", queue_url.clone()),
                ("SQS_WAIT_TIME", "1s".to_owned()),
                ("SES_SENDER_EMAIL", sender.clone()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        if let Some(uri) = test_mongo_uri() {
            env.push(("MONGO_URI".to_owned(), uri));
        }
        let dir = tempfile::tempdir().unwrap();
        Self {
            _logs: ShowLogsOnFailure::of(dir.path()),
            dir,
            env,
            queue_url,
            sender,
            redis_prefix,
        }
    }

    fn start(&self, command: &str, extra: &[(&str, &str)], port: Option<u16>, log: &str) -> Child {
        let mut env = self.env.clone();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        start_process(command, self.dir.path(), &env, port, log)
    }

    async fn queue(&self) -> SqsQueue {
        SqsQueue::connect(&aws::sdk_config().await, self.queue_url.as_str())
            .await
            .unwrap()
    }

    async fn wait_until_drained(&self) {
        let queue = self.queue().await;
        eventually(Duration::from_secs(60), "the queue to drain", || async {
            let depth = queue.depth().await.unwrap();
            (depth.visible + depth.in_flight == 0).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_goes_through_redis_sqs_and_ses_across_api_and_worker_processes() {
    let deployment = Deployment::new(5).await;
    let port = free_port();
    // The stream re-reads the store only every 10 minutes: what it shows within the test
    // came through Redis pub/sub.
    let api = deployment.start(
        "api",
        &[("SSE_RECHECK_INTERVAL", "10m")],
        Some(port),
        "api.log",
    );
    let http = Http::new(&format!("http://127.0.0.1:{port}"));
    http.wait_until_up().await;
    let email = unique_email("e2e");
    let token = http.user(&email).await;

    let placed = http
        .send(
            http.request(Method::POST, "/api/orders")
                .bearer_auth(&token)
                .header("traceparent", TRACEPARENT)
                .json(&json!({ "items": [{ "productId": "sku-mug", "quantity": 1 }] })),
        )
        .await
        .expect(201)
        .json();
    let id = placed["id"].as_str().unwrap().to_owned();

    // The relay published it with the request's trace context (read without consuming it).
    let message = eventually(Duration::from_secs(30), "the order's message", || async {
        aws::peek_messages(&deployment.queue_url).await.pop()
    })
    .await;
    let attribute = |name: &str| {
        message
            .message_attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value())
            .map(str::to_owned)
    };
    assert_eq!(attribute("orderId").as_deref(), Some(id.as_str()));
    let sent_trace = attribute("traceparent").expect("a traceparent attribute");
    assert_eq!(
        sent_trace.split('-').nth(1),
        TRACEPARENT.split('-').nth(1),
        "same trace id as the API request: {sent_trace}"
    );

    let (events, worker) = tokio::join!(http.status_events(&token, &id), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        deployment.start("worker", &[], None, "worker.log")
    });
    let statuses: Vec<_> = events
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["PENDING", "PROCESSING", "PROCESSED"]);

    deployment.wait_until_drained().await;
    let emails = eventually(Duration::from_secs(30), "the SES email", || async {
        Some(aws::emails_to(&email).await).filter(|e| !e.is_empty())
    })
    .await;
    assert_eq!(emails.len(), 1, "exactly one email: {emails:?}");
    assert!(emails[0]["subject"].as_str().unwrap().contains(&id));

    // The worker refreshed the shared cache: the API answers from it.
    let read = http
        .get(&format!("/api/orders/{id}"), Some(&token))
        .await
        .expect(200);
    assert_eq!(read.json()["status"], "PROCESSED");
    assert_eq!(read.header("x-cache"), Some("HIT"));

    terminate_and_expect_clean_exit(api, Duration::from_secs(30));
    terminate_and_expect_clean_exit(worker, Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_batch_on_sqs_leaves_every_order_to_another_with_one_email_each() {
    let deployment = Deployment::new(10).await;
    let port = free_port();
    let api = deployment.start(
        "api",
        &[("AUTH_RATE_LIMIT_PER_MINUTE", "1000")],
        Some(port),
        "api.log",
    );
    let http = Http::new(&format!("http://127.0.0.1:{port}"));
    http.wait_until_up().await;
    let email = unique_email("crash");
    let token = http.user(&email).await;
    let ids = http.place_many(&token, "sku-mug", 30).await;
    let queue = deployment.queue().await;
    eventually(Duration::from_secs(60), "every order queued", || async {
        (queue.depth().await.unwrap().visible >= 30).then_some(())
    })
    .await;

    // The first worker cannot reach SES, so no email can be half-sent when it dies: what
    // is left mid-batch is orders moved on and messages received but not deleted.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut first = deployment.start(
        "worker",
        &[
            ("AWS_ENDPOINT_URL_SESV2", closed.as_str()),
            ("WORKER_VISIBILITY_TIMEOUT", "3s"),
            ("WORKER_RETRY_DELAY", "3s"),
        ],
        None,
        "worker-1.log",
    );
    eventually(
        Duration::from_secs(60),
        "the first worker to be mid-batch",
        || async {
            let processed = http
                .get("/api/orders?status=PROCESSED&limit=100", Some(&token))
                .await
                .expect(200)
                .json();
            (processed["items"].as_array().unwrap().len() >= 3).then_some(())
        },
    )
    .await;
    first.kill().unwrap(); // SIGKILL: no chance to finish anything
    first.wait().unwrap();
    assert!(aws::emails_to(&email).await.is_empty());
    let depth = queue.depth().await.unwrap();
    assert!(
        depth.in_flight > 0,
        "killed with messages in flight: {depth:?}"
    );

    let second = deployment.start("worker", &[], None, "worker-2.log");
    eventually(
        Duration::from_secs(120),
        "an email for every order",
        || async { Some(aws::emails_to(&email).await).filter(|e| e.len() >= ids.len()) },
    )
    .await;
    deployment.wait_until_drained().await;
    let emails = aws::emails_to(&email).await;
    assert_eq!(emails.len(), ids.len(), "no order emailed twice");
    for id in &ids {
        // A cache refresh lost to a slow Redis leaves the older copy for 10 s at most.
        let order = eventually(
            Duration::from_secs(30),
            "the order read as PROCESSED",
            || async {
                let order = http
                    .get(&format!("/api/orders/{id}"), Some(&token))
                    .await
                    .expect(200)
                    .json();
                (order["status"] == "PROCESSED").then_some(order)
            },
        )
        .await;
        assert_eq!(
            order["statusHistory"].as_array().unwrap().len(),
            3,
            "each status once"
        );
        let naming = emails
            .iter()
            .filter(|e| e["subject"].as_str().unwrap().contains(id.as_str()))
            .count();
        assert_eq!(naming, 1, "one email for order {id}");
    }
    terminate_and_expect_clean_exit(api, Duration::from_secs(30));
    terminate_and_expect_clean_exit(second, Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_message_past_its_receive_limit_is_dead_lettered_and_its_order_failed() {
    let deployment = Deployment::new(3).await;
    // In this process, with a processor that always fails: the flags the variables give.
    let app = spawn_serve_with_env(Arc::new(AlwaysDown), &deployment.env, |args| {
        args.redis_url = Some(redis_url());
        args.redis_key_prefix = Some(deployment.redis_prefix.clone());
        args.sqs_queue_url = Some(deployment.queue_url.clone());
        args.ses_sender_email = Some(deployment.sender.clone());
        args.sqs_wait_time = Some("1s".into());
        args.worker_retry_delay = Some("100ms".into());
    })
    .await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let email = unique_email("poison");
    let token = app.user(&email).await;
    let id = app.place_one(&token, "sku-a", 4).await;

    let failed = app.wait_for_status(&token, &id, "FAILED").await;
    let reason = failed["statusHistory"][2]["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    assert_eq!(app.stock("sku-a").await, 10, "stock released");

    let queue = deployment.queue().await;
    // The queue moves it on the receive after its last one.
    eventually(
        Duration::from_secs(60),
        "the message in the DLQ and nowhere else",
        || async {
            let depth = queue.depth().await.unwrap();
            ((depth.visible, depth.in_flight, depth.dead_lettered) == (0, 0, 1)).then_some(())
        },
    )
    .await;
    let emails = eventually(Duration::from_secs(30), "the failure email", || async {
        Some(aws::emails_to(&email).await).filter(|e| !e.is_empty())
    })
    .await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0]["subject"]
            .as_str()
            .unwrap()
            .contains("could not be processed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_stopped_reads_fall_back_to_the_store_and_recover_when_it_returns() {
    let mut redis = PrivateRedis::start().await;
    let app = spawn_app_with(|args| args.redis_url = Some(redis.url())).await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("outage@example.com").await;
    let id = app.place_one(&token, "sku-a", 1).await;
    let path = format!("/api/orders/{id}");
    let cache_of =
        |response: &crate::helpers::Response| response.header("x-cache").map(str::to_owned);
    app.get(&path, Some(&token)).await.expect(200);
    let cached = app.get(&path, Some(&token)).await.expect(200);
    assert_eq!(cache_of(&cached).as_deref(), Some("HIT"));

    redis.stop();
    for _ in 0..5 {
        let read = app.get(&path, Some(&token)).await.expect(200);
        assert_eq!(
            cache_of(&read).as_deref(),
            Some("MISS"),
            "served by the store"
        );
        assert_eq!(read.json()["id"], id.as_str());
    }
    // Rate limits are in Redis too: logging in still works while it is away.
    app.login("outage@example.com", crate::helpers::PASSWORD)
        .await
        .expect(200);
    // By default every configured dependency must answer for readiness (API.md).
    let readiness = app.get("/readyz", None).await;
    assert_eq!(readiness.status, 503);
    let readiness = readiness.json();
    assert_eq!(readiness["status"], "unavailable");
    assert_eq!(readiness["checks"]["cache"], "down");
    assert_eq!(readiness["checks"]["store"], "ok");

    redis.restart().await;
    eventually(
        Duration::from_secs(30),
        "reads from the cache again",
        || async {
            let read = app.get(&path, Some(&token)).await.expect(200);
            (cache_of(&read).as_deref() == Some("HIT")).then_some(())
        },
    )
    .await;
}
