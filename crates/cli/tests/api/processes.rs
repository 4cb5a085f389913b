//! `orderflow api` and `orderflow worker` as separate processes on one DATA_DIR, and a
//! worker killed in the middle of its work.
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use orderflow_core::{OrderId, OrderStatus};

use orderflow_testkit::services::free_port;

use crate::helpers::{
    Http, ShowLogsOnFailure, TestApp, emails_in, eventually, promtool_check_metrics, spawn_app,
    spawn_app_with, start_process, terminate_and_expect_clean_exit, test_mongo_uri,
};

fn start(
    command: &str,
    data_dir: &Path,
    mongo_uri: Option<&str>,
    port: Option<u16>,
    log_name: &str,
) -> Child {
    start_with(command, data_dir, mongo_uri, port, log_name, &[])
}

fn start_with(
    command: &str,
    data_dir: &Path,
    mongo_uri: Option<&str>,
    port: Option<u16>,
    log_name: &str,
    extra: &[(&str, String)],
) -> Child {
    let mut env: Vec<_> = mongo_uri
        .map(|uri| ("MONGO_URI".to_owned(), uri.to_owned()))
        .into_iter()
        .collect();
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    start_process(command, data_dir, &env, port, log_name)
}

/// How the first worker is stopped in the middle of its batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGKILL: no chance to finish anything.
    Kill,
    /// SIGTERM: it finishes or releases what it holds, within its shutdown deadline.
    Terminate,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing() {
    worker_stopped_mid_batch(Stop::Kill).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_terminated_mid_batch_exits_in_time_and_loses_nothing() {
    worker_stopped_mid_batch(Stop::Terminate).await;
}

/// Orders placed before the first worker starts. The MongoDB test server processes a few
/// dozen a second, slower still beside other tests: enough to be stopped mid-way, few
/// enough to finish well within the waits.
const ORDERS: usize = 200;

async fn worker_stopped_mid_batch(stop: Stop) {
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 10_000)]).await;
    let token = app.user("crash@example.com").await;
    let ids = app.place_many(&token, "sku-a", ORDERS).await;
    app.wait_until_published().await;
    let store = app.backends.store.clone();

    let mail = app.mail_dir();
    let _logs = ShowLogsOnFailure::of(app.data_dir());
    // Eight orders at a time: on the embedded store it would otherwise finish hundreds
    // between two looks at the mail directory, and leave nothing to stop it in the middle of.
    let mut first = start_with(
        "worker",
        app.data_dir(),
        app.settings.mongo_uri.as_deref(),
        None,
        "worker-1.log",
        &[("WORKER_CONCURRENCY", "8".to_owned())],
    );
    app.wait_for_emails(25).await;
    match stop {
        Stop::Kill => {
            first.kill().unwrap();
            first.wait().unwrap();
        }
        // Its deadline (WORKER_SHUTDOWN_DEADLINE) is 20 s; orders here take milliseconds.
        Stop::Terminate => terminate_and_expect_clean_exit(first, Duration::from_secs(20)),
    }
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
    // On MongoDB a transaction the killed worker left open holds its documents until the
    // server aborts it, 60 s after its last statement: the orders it touched wait that long.
    app.wait_for_emails_within(ids.len(), Duration::from_secs(180))
        .await;
    // An email written just before the kill is settled only when its lease has run out and
    // the second worker sends it again (its file is already there): wait for all of them.
    eventually(
        Duration::from_secs(120),
        "every email to be settled",
        || async { (store.email_backlog().await.unwrap() == 0).then_some(()) },
    )
    .await;
    for id in &ids {
        let id = OrderId::parse(id).unwrap();
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
    let _logs = ShowLogsOnFailure::of(dir.path());
    let port = free_port();
    let mongo_uri = test_mongo_uri();
    let api = start(
        "api",
        dir.path(),
        mongo_uri.as_deref(),
        Some(port),
        "api.log",
    );
    // Port 0: the worker picks a free one and names it in its log (a port chosen here
    // could be taken by another test before the worker binds it).
    let worker = start_with(
        "worker",
        dir.path(),
        mongo_uri.as_deref(),
        None,
        "worker.log",
        &[("WORKER_METRICS_PORT", "0".to_owned())],
    );
    let worker_port = probe_port(&dir.path().join("worker.log")).await;
    let http = Http::new(&format!("http://127.0.0.1:{port}"));
    http.wait_until_up().await;

    let token = http.user("two@example.com").await;
    let id = http.place_one(&token, "sku-mug", 1).await;
    http.wait_for_status(&token, &id, "PROCESSED").await;
    // The email follows the status change.
    let mail = dir.path().join("mail");
    let emails = eventually(Duration::from_secs(30), "the email", || async {
        Some(emails_in(&mail)).filter(|emails| !emails.is_empty())
    })
    .await;
    assert_eq!(emails, [format!("{id}-processed.eml")]);

    // The API process hears of the worker's changes by re-reading: its stream ends too.
    let events = http.status_events(&token, &id).await;
    assert_eq!(
        events.last().map(|e| e["status"].clone()),
        Some(serde_json::json!("PROCESSED")),
        "{events:?}"
    );

    // Both processes export metrics that promtool finds nothing wrong with, and that
    // counted this order where it happened.
    http.get(&format!("/api/orders/{id}"), Some(&token))
        .await
        .expect(200);
    let api_metrics = http.get("/metrics", None).await.expect(200).text;
    promtool_check_metrics(&api_metrics);
    assert!(
        api_metrics.contains("orderflow_orders_placed_total 1"),
        "{api_metrics}"
    );
    assert!(
        api_metrics.contains(
            "orderflow_http_requests_total{method=\"GET\",route=\"/api/orders/{id}\",status_class=\"2xx\"} "
        ),
        "routes by template: {api_metrics}"
    );
    let probe = Http::new(&format!("http://127.0.0.1:{worker_port}"));
    probe.get("/healthz", None).await.expect(200);
    let ready = probe.get("/readyz", None).await.expect(200).json();
    assert_eq!(ready["checks"]["queue"], "ok");
    // The email is counted once recorded as sent, just after its file is written.
    let worker_metrics = eventually(Duration::from_secs(10), "the email counted", || async {
        let text = probe.get("/metrics", None).await.expect(200).text;
        text.contains("orderflow_emails_total{outcome=\"sent\"} 1")
            .then_some(text)
    })
    .await;
    promtool_check_metrics(&worker_metrics);
    for expected in [
        "orderflow_orders_processed_total{outcome=\"processed\"} 1",
        "orderflow_emails_total{outcome=\"sent\"} 1",
        "orderflow_queue_messages_received_total 1",
        "orderflow_order_end_to_end_duration_seconds_count{outcome=\"processed\"} 1",
    ] {
        assert!(
            worker_metrics.contains(expected),
            "{expected} in:\n{worker_metrics}"
        );
    }
    every_metric_the_dashboards_and_alerts_use_is_exported(&[&api_metrics, &worker_metrics]);

    terminate_and_expect_clean_exit(api, Duration::from_secs(30));
    terminate_and_expect_clean_exit(worker, Duration::from_secs(30));
}

/// The port a worker started with `WORKER_METRICS_PORT=0` serves its probes on, as its
/// log names it. (A port chosen here could be taken by another test before the worker binds
/// it.)
async fn probe_port(log: &Path) -> u16 {
    eventually(
        Duration::from_secs(30),
        "the worker's probe address",
        || {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            async move {
                // JSON (`"worker_probe":"Some(…)"`) or pretty (`worker_probe=Some(…)`).
                let after = log.split("worker_probe").nth(1)?.split("Some(").nth(1)?;
                let address = after.split(')').next()?;
                address.rsplit(':').next()?.parse().ok()
            }
        },
    )
    .await
}

/// A worker process beside `app` whose mail directory is gone once it has started, so
/// that every email it sends fails for now, as when the mail service is down.
async fn worker_without_mail(app: &TestApp, log: &str, extra: &[(&str, &str)]) -> Child {
    let down = app.data_dir().join(format!("{log}.mail"));
    let mut env = vec![
        ("MAIL_DIR", down.display().to_string()),
        ("WORKER_METRICS_PORT", "0".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let worker = start_with(
        "worker",
        app.data_dir(),
        app.settings.mongo_uri.as_deref(),
        None,
        log,
        &env,
    );
    eventually(
        Duration::from_secs(30),
        "the worker's mail directory",
        || async { down.is_dir().then_some(()) },
    )
    .await;
    std::fs::remove_dir_all(&down).unwrap();
    worker
}

/// Waits until the store holds order `id` in `status`. (The API of `app` answers from its
/// own memory cache, which a worker process does not refresh.)
async fn wait_until_stored(app: &TestApp, id: &str, status: OrderStatus) {
    let id = OrderId::parse(id).unwrap();
    eventually(Duration::from_secs(60), "the order's status", || async {
        let order = app.backends.store.order(id).await.unwrap()?;
        (order.status == status).then_some(())
    })
    .await
}

/// Waits until the log `log` in `dir` has a line saying `message` about order `id`.
async fn logged(dir: &Path, log: &str, message: &str, id: &str) -> String {
    let path = dir.join(log);
    eventually(Duration::from_secs(60), message, || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        async move {
            text.lines()
                .find(|line| line.contains(message) && line.contains(id))
                .map(str::to_owned)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_email_a_killed_worker_left_unsent_on_its_only_delivery_is_sent_once_by_the_next() {
    // The order's message has one delivery (QUEUE_MAX_RECEIVES=1): the email must not
    // depend on it coming back.
    let app = spawn_app_with(|args| args.queue_max_receives = Some("1".into())).await;
    let _logs = ShowLogsOnFailure::of(app.data_dir());
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("killed-before-send@example.com").await;
    let one_delivery = [("QUEUE_MAX_RECEIVES", "1")];
    let mut first = worker_without_mail(&app, "worker-1.log", &one_delivery).await;
    let id = app.place_one(&token, "sku-a", 1).await;
    wait_until_stored(&app, &id, OrderStatus::Processed).await;
    // Made final, its email recorded and not sent: the worker dies now.
    logged(app.data_dir(), "worker-1.log", "order email not sent", &id).await;
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(app.emails().is_empty());
    assert_eq!(app.backends.store.email_backlog().await.unwrap(), 1);

    let second = start_with(
        "worker",
        app.data_dir(),
        app.settings.mongo_uri.as_deref(),
        None,
        "worker-2.log",
        &[("QUEUE_MAX_RECEIVES", "1".to_owned())],
    );
    assert_eq!(
        app.wait_for_emails(1).await,
        [format!("{id}-processed.eml")]
    );
    app.wait_until_emails_settled().await;
    assert_eq!(app.emails().len(), 1, "sent once");
    // Its message, if the kill kept it from being deleted, is dead-lettered on its second
    // receive; the order is final already and stays so.
    wait_until_stored(&app, &id, OrderStatus::Processed).await;
    terminate_and_expect_clean_exit(second, Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_email_failing_past_its_retry_budget_is_given_up_counted_and_logged() {
    let app = spawn_app().await;
    let _logs = ShowLogsOnFailure::of(app.data_dir());
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("mail-down-for-good@example.com").await;
    let budget = [("EMAIL_MAX_ATTEMPTS", "3"), ("EMAIL_RETRY_DELAY", "100ms")];
    let worker = worker_without_mail(&app, "worker.log", &budget).await;
    let id = app.place_one(&token, "sku-a", 1).await;
    let line = logged(
        app.data_dir(),
        "worker.log",
        "order email failed; giving up",
        &id,
    )
    .await;
    assert!(line.contains("ERROR"), "{line}");
    app.wait_until_emails_settled().await;
    let probe = Http::new(&format!(
        "http://127.0.0.1:{}",
        probe_port(&app.data_dir().join("worker.log")).await
    ));
    let metrics = probe.get("/metrics", None).await.expect(200).text;
    for counted in [
        "orderflow_emails_total{outcome=\"retried\"} 2",
        "orderflow_emails_total{outcome=\"failed\"} 1",
        "orderflow_emails_total{outcome=\"sent\"} 0",
    ] {
        assert!(metrics.contains(counted), "{counted} in:\n{metrics}");
    }
    // The order stays as it was made: final, not failed by its email.
    wait_until_stored(&app, &id, OrderStatus::Processed).await;
    assert!(app.emails().is_empty());
    terminate_and_expect_clean_exit(worker, Duration::from_secs(30));
}

/// The metric names in `dashboards/` (Grafana JSON and the alert rules) against what the
/// processes really export: a panel or alert on a name nobody exports would stay empty.
fn every_metric_the_dashboards_and_alerts_use_is_exported(scrapes: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
    let mut files = vec![root.join("alerts/orderflow.rules.yaml")];
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    let exported: std::collections::BTreeSet<&str> = scrapes
        .iter()
        .flat_map(|scrape| scrape.lines())
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    let mut used = std::collections::BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("orderflow_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(&name)
                .to_owned();
            used.insert(family);
        }
    }
    assert!(used.len() >= 10, "the dashboards use metrics: {used:?}");
    let missing: Vec<_> = used
        .iter()
        .filter(|name| !exported.contains(name.as_str()))
        .collect();
    assert!(missing.is_empty(), "used but not exported: {missing:?}");
}
