//! `orderflow api` and `orderflow worker` as separate processes on one DATA_DIR, and a
//! worker killed in the middle of its work.
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orderflow_core::OrderId;
use serde_json::json;

use crate::helpers::{JWT_SECRET, PASSWORD, emails_in, eventually, spawn_app, test_mongo_uri};

const BINARY: &str = env!("CARGO_BIN_EXE_orderflow");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `orderflow <command>` on `data_dir` (and MongoDB at `mongo_uri`, if given); its
/// log goes to `log_name` in `data_dir`.
fn start(
    command: &str,
    data_dir: &Path,
    mongo_uri: Option<&str>,
    port: Option<u16>,
    log_name: &str,
) -> Child {
    let log = std::fs::File::create(data_dir.join(log_name)).unwrap();
    let mut process = Command::new(BINARY);
    process
        .arg(command)
        .env_clear()
        .env("DATA_DIR", data_dir)
        .env("JWT_SECRET", JWT_SECRET)
        .env("WORKER_VISIBILITY_TIMEOUT", "2s")
        .env("WORKER_RETRY_DELAY", "100ms")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
    if let Some(uri) = mongo_uri {
        process.env("MONGO_URI", uri);
    }
    if let Some(port) = port {
        process
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1");
    }
    process.spawn().unwrap()
}

fn terminate_and_expect_clean_exit(mut child: Child, within: Duration) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + within;
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success(), "exited with {exit:?}");
            return;
        }
        assert!(Instant::now() < deadline, "did not stop within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing() {
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 10_000)]).await;
    let token = app.user("crash@example.com").await;
    let mut ids = Vec::new();
    for _ in 0..25 {
        let placements =
            (0..20).map(|_| app.place(&token, json!([{ "productId": "sku-a", "quantity": 1 }])));
        for response in futures::future::join_all(placements).await {
            ids.push(
                response.expect(201).json()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    let store = app.backends.store.clone();
    eventually(
        Duration::from_secs(30),
        "every order to be queued",
        || async { (store.outbox_backlog().await.unwrap() == 0).then_some(()) },
    )
    .await;

    let mail = app.mail_dir();
    let mut first = start(
        "worker",
        app.data_dir(),
        app.settings.mongo_uri.as_deref(),
        None,
        "worker-1.log",
    );
    app.wait_for_emails(25).await;
    first.kill().unwrap(); // SIGKILL: no chance to finish anything
    first.wait().unwrap();
    let sent_before_crash = emails_in(&mail).len();
    assert!(
        sent_before_crash < ids.len(),
        "the worker was killed with work left"
    );

    let second = start(
        "worker",
        app.data_dir(),
        app.settings.mongo_uri.as_deref(),
        None,
        "worker-2.log",
    );
    app.wait_for_emails(ids.len()).await;
    // An email written just before the kill is recorded as sent only when its message
    // comes back (after the visibility timeout): wait for every record to complete.
    for id in &ids {
        let id = OrderId::parse(id).unwrap();
        eventually(
            Duration::from_secs(30),
            "the email to be recorded as sent",
            || async { (store.notifications_completed(id).await.unwrap() > 0).then_some(()) },
        )
        .await;
        assert_eq!(store.notifications_completed(id).await.unwrap(), 1);
        let order = store.order(id).await.unwrap().unwrap();
        assert_eq!(order.status, orderflow_core::OrderStatus::Processed);
        assert_eq!(order.history.len(), 3, "each status once");
    }
    let mut expected: Vec<_> = ids.iter().map(|id| format!("{id}-processed.eml")).collect();
    expected.sort();
    assert_eq!(
        emails_in(&mail),
        expected,
        "one email per order, none twice"
    );
    terminate_and_expect_clean_exit(second, Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_api_and_worker_processes_share_one_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mongo_uri = test_mongo_uri();
    let api = start(
        "api",
        dir.path(),
        mongo_uri.as_deref(),
        Some(port),
        "api.log",
    );
    let worker = start(
        "worker",
        dir.path(),
        mongo_uri.as_deref(),
        None,
        "worker.log",
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the api did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let credentials = json!({ "name": "Two", "email": "two@example.com", "password": PASSWORD });
    let registered = client
        .post(format!("{base}/api/auth/register"))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let session: serde_json::Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&credentials)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["accessToken"].as_str().unwrap().to_owned();
    let placed = client
        .post(format!("{base}/api/orders"))
        .bearer_auth(&token)
        .json(&json!({ "items": [{ "productId": "sku-mug", "quantity": 1 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), 201);
    let id = placed.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let order: serde_json::Value = client
            .get(format!("{base}/api/orders/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if order["status"] == "PROCESSED" {
            break;
        }
        assert!(Instant::now() < deadline, "not processed: {order}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The email follows the status change.
    let mail = dir.path().join("mail");
    let emails = eventually(Duration::from_secs(30), "the email", || async {
        Some(emails_in(&mail)).filter(|emails| !emails.is_empty())
    })
    .await;
    assert_eq!(emails, [format!("{id}-processed.eml")]);

    // The API process hears of the worker's changes by re-reading: its stream ends too.
    let stream = client
        .get(format!("{base}/api/orders/{id}/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let text = tokio::time::timeout(Duration::from_secs(10), stream.text())
        .await
        .unwrap()
        .unwrap();
    assert!(text.contains("\"status\":\"PROCESSED\""), "{text}");

    terminate_and_expect_clean_exit(api, Duration::from_secs(30));
    terminate_and_expect_clean_exit(worker, Duration::from_secs(30));
}
