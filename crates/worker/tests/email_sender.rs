//! The email sender against the real SQLite store and file mailer, with the store cut at
//! the worst moment: right after the mail service took an email.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{
    EmailOutboxStore, InventoryStore, MailError, Mailer, OrderStore, PipelineObserver, Store,
    Transitioned,
};
use orderflow_core::usecases::{EmailPolicy, EmailingService};
use orderflow_core::{EmailMessage, Order, OrderStatus};
use orderflow_infra::file::FileMailer;
use orderflow_store::SqliteStore;
use orderflow_telemetry::Metrics;
use orderflow_testkit::fixtures;
use orderflow_testkit::wait::eventually;
use orderflow_worker::{EmailSender, EmailSenderSettings};
use support::{hold_the_write_lock, sample};

mod support;

/// How long the store stays cut: past its busy timeout (5 s), so recording the email as
/// sent fails.
const HOLD: Duration = Duration::from_secs(7);

/// The file mailer; right after its first send, another connection takes the database's
/// write lock and holds it for [`HOLD`], as if the store went away at that moment.
struct CutsTheStoreAfterItsFirstSend {
    inner: FileMailer,
    database: PathBuf,
    cut: AtomicBool,
    sends: AtomicUsize,
}

#[async_trait]
impl Mailer for CutsTheStoreAfterItsFirstSend {
    async fn send(&self, email: &EmailMessage) -> Result<(), MailError> {
        self.sends.fetch_add(1, Ordering::SeqCst);
        self.inner.send(email).await?;
        if !self.cut.swap(true, Ordering::SeqCst) {
            hold_the_write_lock(self.database.clone(), HOLD);
        }
        Ok(())
    }
}

/// An order of a new user, made PROCESSED through the store: its email is recorded.
async fn processed_order(store: &SqliteStore) -> Order {
    let user = fixtures::given_user(store, "cut@example.com").await;
    let catalog = [fixtures::product("a", 100, 10)];
    store.upsert_products(&catalog).await.unwrap();
    let mut order = fixtures::order_of(user, &catalog, &[("a", 1)]);
    store.place_order(&order, None, None).await.unwrap();
    for to in [OrderStatus::Processing, OrderStatus::Processed] {
        let step = order.transition(to, None, orderflow_core::now()).unwrap();
        let Transitioned::Applied(next) = store.transition_order(&order, &step).await.unwrap()
        else {
            panic!("the step to {to} applies");
        };
        order = next;
    }
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_sent_but_not_recorded_as_sent_is_sent_again_as_the_same_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    let order = processed_order(&store).await;
    let mail_dir = dir.path().join("mail");
    let mailer = Arc::new(CutsTheStoreAfterItsFirstSend {
        inner: FileMailer::new(&mail_dir, "shop <shop@example.com>").unwrap(),
        database: dir.path().join(SqliteStore::FILE_NAME),
        cut: AtomicBool::new(false),
        sends: AtomicUsize::new(0),
    });
    let metrics = Arc::new(Metrics::new());
    let emailing = EmailingService::new(
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::clone(&mailer) as Arc<dyn Mailer>,
        EmailPolicy {
            lease: Duration::from_secs(1),
            ..EmailPolicy::default()
        },
    )
    .with_observer(Arc::clone(&metrics) as Arc<dyn PipelineObserver>);
    let sender = EmailSender::new(Arc::new(emailing), EmailSenderSettings::default());

    // Sent, but the store is gone before the email is recorded as sent.
    assert!(sender.send_once().await.is_err());
    assert_eq!(mailer.sends.load(Ordering::SeqCst), 1);
    assert_eq!(store.email_backlog().await.unwrap(), 1);

    // Once the store is back and the lease has run out, it is sent again: the same file,
    // which the file mailer does not write twice.
    eventually(
        HOLD + Duration::from_secs(20),
        "the email settled",
        || async {
            let _ = sender.send_once().await;
            (store.email_backlog().await.ok()? == 0).then_some(())
        },
    )
    .await;
    assert_eq!(mailer.sends.load(Ordering::SeqCst), 2, "sent a second time");
    let files: Vec<_> = std::fs::read_dir(&mail_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, [format!("{}-processed.eml", order.id)], "one file");
    assert_eq!(
        sample(&metrics, r#"orderflow_emails_total{outcome="sent"}"#),
        1.0,
        "the send whose outcome was lost is not counted"
    );
}
