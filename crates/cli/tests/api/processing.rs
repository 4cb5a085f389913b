//! Asynchronous processing end to end in one process: relay, queue, worker, email, SSE.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{
    AcceptAll, MailError, Mailer, OrderProcessor, OutgoingMessage, ProcessingError,
};
use orderflow_core::usecases::{
    Delivery, EmailPolicy, EmailingService, Handled, ProcessingService,
};
use orderflow_core::{EmailMessage, Order, OrderId};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{eventually, spawn_app, spawn_app_with, spawn_serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_is_processed_emailed_once_and_streamed_live() {
    let app = spawn_app().await;
    app.seed(&[("sku-mug", 1999, 10)]).await;
    let token = app.user("e2e@example.com").await;
    let id = app.place_one(&token, "sku-mug", 2).await;

    // Watch from PENDING, then let a worker at it.
    let watching = app.status_events(&token, &id);
    let worker = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.start_worker(Arc::new(AcceptAll)).await
    };
    let (events, _worker) = tokio::join!(watching, worker);
    let statuses: Vec<_> = events
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["PENDING", "PROCESSING", "PROCESSED"]);
    assert!(events.iter().all(|e| e["orderId"] == id));

    let done = app.wait_for_status(&token, &id, "PROCESSED").await;
    let history: Vec<_> = done["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["PENDING", "PROCESSING", "PROCESSED"]);
    assert_eq!(
        app.stock("sku-mug").await,
        8,
        "a processed order keeps its stock"
    );

    let emails = app.wait_for_emails(1).await;
    assert_eq!(emails, [format!("{id}-processed.eml")]);
    let eml = std::fs::read_to_string(app.mail_dir().join(&emails[0])).unwrap();
    assert!(eml.contains("To: \"Test User\" <e2e@example.com>"), "{eml}");
    assert!(eml.contains(&format!("Subject: Order {id} confirmed")));
    assert!(eml.contains("multipart/alternative"));
    assert!(eml.contains("text/plain") && eml.contains("text/html"));
    assert!(eml.contains("39.98 USD"));

    // Watching a finished order: its current status, then the stream ends.
    let events = app.status_events(&token, &id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status"], "PROCESSED");
    let stranger = app.user("watcher@example.com").await;
    app.get(&format!("/api/orders/{id}/events"), Some(&stranger))
        .await
        .expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivered_messages_change_nothing_twice() {
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("redeliver@example.com").await;
    let id = app.place_one(&token, "sku-a", 1).await;
    // The relay publishes the order once; the queue delivers it twice more.
    let body = json!({ "orderId": id }).to_string();
    for _ in 0..2 {
        app.backends
            .queue
            .send(&OutgoingMessage {
                body: body.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    eventually(
        Duration::from_secs(10),
        "three deliveries queued",
        || async { (app.backends.queue.depth().await.unwrap().visible == 3).then_some(()) },
    )
    .await;

    let _worker = app.start_worker(Arc::new(AcceptAll)).await;
    let done = app.wait_for_status(&token, &id, "PROCESSED").await;
    app.wait_until_drained().await;
    assert_eq!(
        done["statusHistory"].as_array().unwrap().len(),
        3,
        "one change per status"
    );
    let final_order = app
        .get(&format!("/api/orders/{id}"), Some(&token))
        .await
        .expect(200)
        .json();
    assert_eq!(final_order["statusHistory"], done["statusHistory"]);
    assert_eq!(
        app.wait_for_emails(1).await,
        [format!("{id}-processed.eml")]
    );
    app.wait_until_emails_settled().await;
    assert_eq!(app.emails().len(), 1, "one email for three deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_email_whose_send_failed_is_sent_after_a_pause_and_the_message_is_done_with() {
    let app = spawn_serve(Arc::new(AcceptAll), |args| {
        args.email_retry_delay = Some("200ms".into());
    })
    .await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("mail-down@example.com").await;
    let mail_dir = app.mail_dir();
    std::fs::remove_dir_all(&mail_dir).unwrap();
    let id = app.place_one(&token, "sku-a", 1).await;
    app.wait_for_status(&token, &id, "PROCESSED").await;
    eventually(Duration::from_secs(30), "a failed email send", || async {
        let retried = app
            .metric_sum("orderflow_emails_total", "outcome=\"retried\"")
            .await;
        (retried >= 1.0).then_some(())
    })
    .await;
    // The email no longer rides on the order's message: that is deleted, not retried.
    app.wait_until_drained().await;
    std::fs::create_dir(&mail_dir).unwrap();

    assert_eq!(
        app.wait_for_emails(1).await,
        [format!("{id}-processed.eml")]
    );
    app.wait_until_emails_settled().await;
    let depth = app.backends.queue.depth().await.unwrap();
    assert_eq!(depth.dead_lettered, 0, "the message finished instead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_receivers_holding_one_message_at_once_record_and_send_its_email_once() {
    // A queue may hand one message to two receivers at once (SQS standard queues do), and
    // two senders may look at the email outbox at once.
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("twice-at-once@example.com").await;
    let id = app.place_one(&token, "sku-a", 1).await;
    let order_id = OrderId::parse(&id).unwrap();
    let processing = ProcessingService::new(
        Arc::clone(&app.backends.store),
        Arc::clone(&app.backends.cache),
        Arc::clone(&app.backends.broadcaster),
        Arc::new(AcceptAll),
    );
    let first = Delivery {
        message_id: "message-1".to_owned(),
        receive_count: 1,
        max_receives: 5,
        trace_parent: None,
    };
    let second = Delivery {
        receive_count: 2,
        ..first.clone()
    };
    let (first_ended, second_ended) = tokio::join!(
        processing.handle(order_id, &first),
        processing.handle(order_id, &second)
    );
    assert_eq!(first_ended.unwrap(), Handled::Finished);
    assert_eq!(second_ended.unwrap(), Handled::Finished);
    let store = app.backends.store.as_ref();
    assert_eq!(store.email_backlog().await.unwrap(), 1, "recorded once");

    let mailer = Arc::new(SlowMailer {
        inner: Arc::clone(&app.backends.mailer),
        delay: Duration::from_millis(500),
        calls: AtomicUsize::new(0),
    });
    let sender = || {
        EmailingService::new(
            Arc::clone(&app.backends.store),
            Arc::clone(&mailer) as Arc<dyn Mailer>,
            EmailPolicy::default(),
        )
    };
    let (one, other) = (sender(), sender());
    let send_due = async |emailing: &EmailingService| {
        for pending in emailing.claim_due().await.unwrap() {
            emailing.send(&pending).await.unwrap();
        }
    };
    tokio::join!(send_due(&one), send_due(&other));
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 1, "one send");
    // Delivered again later, the message changes nothing and records nothing.
    let third = Delivery {
        receive_count: 3,
        ..first.clone()
    };
    assert_eq!(
        processing.handle(order_id, &third).await.unwrap(),
        Handled::Finished
    );
    assert_eq!(store.email_backlog().await.unwrap(), 0);
    assert_eq!(app.emails(), [format!("{id}-processed.eml")]);
}

/// The service's own mailer, slowed, counting its sends.
struct SlowMailer {
    inner: Arc<dyn Mailer>,
    delay: Duration,
    calls: AtomicUsize,
}

#[async_trait]
impl Mailer for SlowMailer {
    async fn send(&self, email: &EmailMessage) -> Result<(), MailError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.inner.send(email).await
    }
}

/// A payment step that is always down.
pub(crate) struct AlwaysDown;

#[async_trait]
impl OrderProcessor for AlwaysDown {
    async fn process(&self, _order: &Order) -> Result<(), ProcessingError> {
        Err(ProcessingError::Transient(
            "payment service unreachable".into(),
        ))
    }
}

/// A payment step that declines every order.
struct Declines;

#[async_trait]
impl OrderProcessor for Declines {
    async fn process(&self, _order: &Order) -> Result<(), ProcessingError> {
        Err(ProcessingError::Permanent("card declined".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_orders_fail_release_their_stock_and_email_once() {
    let app = spawn_serve(Arc::new(AlwaysDown), |args| {
        args.queue_max_receives = Some("3".into());
    })
    .await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("poison@example.com").await;
    let id = app.place_one(&token, "sku-a", 4).await;

    let failed = app.wait_for_status(&token, &id, "FAILED").await;
    let last = failed["statusHistory"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.contains("gave up after 3 attempts")
            && reason.contains("payment service unreachable"),
        "{reason}"
    );
    assert_eq!(app.stock("sku-a").await, 10, "stock released");
    app.wait_until_drained().await;
    assert_eq!(app.wait_for_emails(1).await, [format!("{id}-failed.eml")]);
    let eml = std::fs::read_to_string(app.mail_dir().join(format!("{id}-failed.eml"))).unwrap();
    assert!(eml.contains("could not be processed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn declined_orders_fail_at_once_with_the_reason() {
    let app = spawn_serve(Arc::new(Declines), |_| {}).await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("declined@example.com").await;
    let id = app.place_one(&token, "sku-a", 4).await;
    let failed = app.wait_for_status(&token, &id, "FAILED").await;
    let history = failed["statusHistory"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[2]["reason"], "card declined");
    assert_eq!(app.stock("sku-a").await, 10);
    assert_eq!(app.wait_for_emails(1).await, [format!("{id}-failed.eml")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_orders_placed_while_the_worker_runs_all_finish_with_one_email_each() {
    let app = spawn_serve(Arc::new(AcceptAll), |args| {
        args.auth_rate_limit_per_minute = Some("1000".into());
    })
    .await;
    app.seed(&[("sku-a", 100, 5_000)]).await;
    let token = app.user("bulk@example.com").await;
    let ids = app.place_many(&token, "sku-a", 1000).await;
    app.wait_for_emails(1000).await;
    let expected: Vec<String> = {
        let mut names: Vec<_> = ids.iter().map(|id| format!("{id}-processed.eml")).collect();
        names.sort();
        names
    };
    assert_eq!(app.emails(), expected, "one email per order, no duplicates");
    let page = app
        .get("/api/orders?status=PROCESSED&limit=100", Some(&token))
        .await
        .expect(200)
        .json();
    assert_eq!(page["items"].as_array().unwrap().len(), 100);
    let pending = app
        .get("/api/orders?status=PENDING", Some(&token))
        .await
        .expect(200)
        .json();
    let processing = app
        .get("/api/orders?status=PROCESSING", Some(&token))
        .await
        .expect(200)
        .json();
    assert!(pending["items"].as_array().unwrap().is_empty());
    assert!(processing["items"].as_array().unwrap().is_empty());
    assert_eq!(app.stock("sku-a").await, 4_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_orders_are_not_processed() {
    let app = spawn_app_with(|_| {}).await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("cancelfirst@example.com").await;
    let id = app.place_one(&token, "sku-a", 1).await;
    app.send(
        app.request(Method::POST, &format!("/api/orders/{id}/cancel"))
            .bearer_auth(&token),
    )
    .await
    .expect(200);
    let _worker = app.start_worker(Arc::new(AcceptAll)).await;
    app.wait_until_drained().await;
    let after = app
        .get(&format!("/api/orders/{id}"), Some(&token))
        .await
        .expect(200)
        .json();
    assert_eq!(after["status"], "CANCELLED");
    assert!(app.emails().is_empty());
}

/// A payment step that takes a while.
struct Slow(Duration);

#[async_trait]
impl OrderProcessor for Slow {
    async fn process(&self, _order: &Order) -> Result<(), ProcessingError> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopping_worker_finishes_what_it_started() {
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("graceful@example.com").await;
    let id = app.place_one(&token, "sku-a", 1).await;
    let worker = app
        .start_worker(Arc::new(Slow(Duration::from_millis(800))))
        .await;
    app.wait_for_status(&token, &id, "PROCESSING").await;

    // Shutdown while the order is in the middle of processing: it still completes.
    let stopping = std::time::Instant::now();
    worker.stop().await.unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(10));
    let order = app
        .get(&format!("/api/orders/{id}"), Some(&token))
        .await
        .expect(200)
        .json();
    assert_eq!(order["status"], "PROCESSED");
    assert_eq!(app.emails(), [format!("{id}-processed.eml")]);
    let depth = app.backends.queue.depth().await.unwrap();
    assert_eq!(
        depth.visible + depth.in_flight,
        0,
        "its message was deleted"
    );
}

/// Takes longer than the visibility timeout, counting its calls.
struct SlowAndCounted {
    calls: std::sync::atomic::AtomicU32,
}

#[async_trait]
impl OrderProcessor for SlowAndCounted {
    async fn process(&self, _order: &Order) -> Result<(), ProcessingError> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(3500)).await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn work_slower_than_the_visibility_timeout_keeps_its_message_hidden() {
    let slow = Arc::new(SlowAndCounted {
        calls: std::sync::atomic::AtomicU32::new(0),
    });
    let app = spawn_serve(Arc::clone(&slow) as Arc<dyn OrderProcessor>, |args| {
        args.worker_visibility_timeout = Some("1s".into());
    })
    .await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("slow@example.com").await;
    let id = app.place_one(&token, "sku-a", 1).await;
    app.wait_for_status(&token, &id, "PROCESSED").await;
    app.wait_until_drained().await;
    // Without the visibility being extended, the message would have reappeared after 1 s
    // and a second delivery would have started the work again.
    assert_eq!(slow.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        app.wait_for_emails(1).await,
        [format!("{id}-processed.eml")]
    );
}

/// Holds `count` requests in flight: each connection sends the head of `token`'s order with
/// a body it never sends, so the request is read, let past authentication, and never
/// answered.
async fn hold_requests(base: &str, token: &str, count: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let address = base.trim_start_matches("http://");
    let mut held = Vec::new();
    for _ in 0..count {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST /api/orders HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        held.push(stream);
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_holds_its_relay_and_worker_back_while_requests_are_many_and_api_does_not() {
    // Enough held requests that the first look of the relay or worker, whose moment's count
    // weighs a quarter of the average, already finds the process busy: whether the
    // placements below are in flight at one of its looks then does not matter.
    const HELD: usize = 6;
    let yield_at_one = |args: &mut orderflow::config::RunArgs| {
        args.background_yield_at_requests = Some("1".to_owned());
    };
    let serve = spawn_serve(Arc::new(AcceptAll), yield_at_one).await;
    let api = spawn_app_with(yield_at_one).await;
    for (app, yields) in [(&serve, true), (&api, false)] {
        app.seed(&[("sku-mug", 1999, 1000)]).await;
        let token = app.user("yield@example.com").await;
        let held = hold_requests(&app.base, &token, HELD).await;
        eventually(
            Duration::from_secs(10),
            "the held requests to be read",
            || async {
                let in_flight = app
                    .metric_sum("orderflow_http_requests_in_flight", "")
                    .await;
                (in_flight > HELD as f64).then_some(())
            },
        )
        .await;
        // While busy, the relay and the worker each take at most 10 orders a turn: 60 take
        // both several turns, and each turn after the first is waited for.
        app.place_many(&token, "sku-mug", 60).await;
        if yields {
            app.wait_until_drained().await;
        } else {
            app.wait_until_published().await;
        }
        let yielded = app
            .metric_sum("orderflow_background_yielded_seconds_total", "")
            .await;
        if yields {
            assert!(yielded > 0.0, "serve yielded {yielded} s");
        } else {
            assert_eq!(yielded, 0.0, "api yielded");
        }
        drop(held);
    }
}
