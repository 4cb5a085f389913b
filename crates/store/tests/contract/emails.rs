use std::time::Duration;

use orderflow_core::ports::{EmailSettlement, PendingEmail, Store, Transitioned};
use orderflow_core::{Order, OrderStatus, TraceParent};

use super::{given_a_processing_order, now, stock_of};

const LEASE: Duration = Duration::from_secs(30);
const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// `processing` moved on to `to`, in the trace [`TRACE`].
async fn finish(store: &dyn Store, processing: &Order, to: OrderStatus) -> Order {
    let reason = (to == OrderStatus::Failed).then(|| "out of luck".to_owned());
    let transition = processing
        .transition(to, reason, now())
        .unwrap()
        .traced(TraceParent::parse(TRACE).ok());
    match store
        .transition_order(processing, &transition)
        .await
        .unwrap()
    {
        Transitioned::Applied(order) => order,
        lost => panic!("{} -> {to} applies: {lost:?}", processing.status),
    }
}

pub async fn the_step_that_makes_an_order_final_records_its_email(store: &dyn Store) {
    let (pending, processing) = given_a_processing_order(store, "record@example.com", 2).await;
    // PENDING -> PROCESSING has no email.
    assert!(
        store
            .claim_emails(10, LEASE, now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.email_backlog().await.unwrap(), 0);

    // A step that does not apply records nothing.
    let stale = pending
        .transition(OrderStatus::Failed, Some("late".into()), now())
        .unwrap();
    let lost = store.transition_order(&pending, &stale).await.unwrap();
    assert_eq!(lost, Transitioned::Conflict(Some(processing.clone())));
    assert_eq!(store.email_backlog().await.unwrap(), 0);

    let failed = finish(store, &processing, OrderStatus::Failed).await;
    assert_eq!(stock_of(store, "a").await, 5, "failing released the stock");
    assert_eq!(store.email_backlog().await.unwrap(), 1);
    let claimed = store.claim_emails(10, LEASE, now()).await.unwrap();
    assert_eq!(
        claimed,
        [PendingEmail {
            order_id: failed.id,
            status: OrderStatus::Failed,
            attempts: 1,
            trace_parent: TraceParent::parse(TRACE).ok(),
        }]
    );
}

pub async fn recorded_emails_are_leased_retried_and_settled(store: &dyn Store) {
    let (_, first) = given_a_processing_order(store, "lease-1@example.com", 1).await;
    let first = finish(store, &first, OrderStatus::Processed).await;
    let key = (first.id, OrderStatus::Processed);
    let claim = async |at| store.claim_emails(10, LEASE, at).await.unwrap();
    let attempts = |claimed: &[PendingEmail]| -> Vec<u32> {
        claimed.iter().map(|email| email.attempts).collect()
    };
    assert_eq!(attempts(&claim(now()).await), [1]);
    // Leased: no other sender gets it while its sender may still be sending it...
    assert!(claim(now()).await.is_empty());
    // ...and once the lease has passed, its sender is taken to have died.
    let after_lease = now() + LEASE + Duration::from_secs(1);
    assert_eq!(attempts(&claim(after_lease).await), [2]);

    // A failed send hands it out again from the time given, not before.
    let retry_at = now() + Duration::from_secs(10);
    store.retry_email(key.0, key.1, retry_at).await.unwrap();
    assert!(claim(now()).await.is_empty());
    let retried = claim(retry_at + Duration::from_secs(1)).await;
    assert_eq!(attempts(&retried), [3]);
    assert_eq!(store.email_backlog().await.unwrap(), 1);

    // Settled, it is never handed out again, and a late retry changes nothing.
    store
        .settle_email(key.0, key.1, &EmailSettlement::Sent, now())
        .await
        .unwrap();
    store.retry_email(key.0, key.1, now()).await.unwrap();
    let much_later = now() + Duration::from_secs(24 * 3600);
    assert!(claim(much_later).await.is_empty());
    assert_eq!(store.email_backlog().await.unwrap(), 0);

    // Rejected and failed emails are settled too; a pending one stays through a purge.
    let (_, second) = given_a_processing_order(store, "lease-2@example.com", 1).await;
    let second = finish(store, &second, OrderStatus::Failed).await;
    let (_, third) = given_a_processing_order(store, "lease-3@example.com", 1).await;
    let third = finish(store, &third, OrderStatus::Processed).await;
    let (_, fourth) = given_a_processing_order(store, "lease-4@example.com", 1).await;
    let fourth = finish(store, &fourth, OrderStatus::Processed).await;
    assert_eq!(claim(now()).await.len(), 3);
    let rejected = EmailSettlement::Rejected("no such mailbox".into());
    store
        .settle_email(second.id, OrderStatus::Failed, &rejected, now())
        .await
        .unwrap();
    let failed = EmailSettlement::Failed("mail service down".into());
    store
        .settle_email(third.id, OrderStatus::Processed, &failed, now())
        .await
        .unwrap();
    assert_eq!(store.email_backlog().await.unwrap(), 1);
    let purged = store.purge(now(), now(), much_later).await.unwrap();
    assert_eq!(purged.emails, 3, "the sent, rejected and failed ones");
    let left = claim(much_later).await;
    assert_eq!(
        left.iter().map(|email| email.order_id).collect::<Vec<_>>(),
        [fourth.id]
    );
}

pub async fn concurrent_senders_are_handed_each_email_once(store: &dyn Store) {
    let mut recorded = Vec::new();
    for i in 0..6 {
        let email = format!("senders-{i}@example.com");
        let (_, processing) = given_a_processing_order(store, &email, 1).await;
        recorded.push(finish(store, &processing, OrderStatus::Processed).await.id);
    }
    let at = now();
    let (a, b, c) = tokio::join!(
        store.claim_emails(4, LEASE, at),
        store.claim_emails(4, LEASE, at),
        store.claim_emails(4, LEASE, at),
    );
    let mut handed: Vec<_> = [a.unwrap(), b.unwrap(), c.unwrap()]
        .into_iter()
        .flatten()
        .map(|email| email.order_id)
        .collect();
    // A sender that lost every race may be handed fewer than are due: the rest come next.
    let rest = store.claim_emails(10, LEASE, at).await.unwrap();
    handed.extend(rest.into_iter().map(|email| email.order_id));
    handed.sort();
    recorded.sort();
    assert_eq!(handed, recorded, "each email to exactly one sender");
}
