use std::time::Duration;

use orderflow_core::ports::{EmailClaim, NotificationState, Store, Transitioned};
use orderflow_core::{OrderStatus, TraceParent};

use super::{
    given_a_processing_order, given_products, given_user, now, order_of, product, stock_of,
};

async fn three_orders(store: &dyn Store) -> Vec<orderflow_core::OrderId> {
    let user = given_user(store, "outbox@example.com").await;
    let catalog = [product("a", 100, 100)];
    given_products(store, &catalog).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let order = order_of(user, &catalog, &[("a", 1)]);
        let trace = (i == 0).then(|| TraceParent::parse(FIRST_TRACE).unwrap());
        store
            .place_order(&order, None, trace.as_ref())
            .await
            .unwrap();
        ids.push(order.id);
    }
    ids
}

/// The trace context the first of [`three_orders`] is placed with.
const FIRST_TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

pub async fn outbox_claims_are_leased_to_one_relay(store: &dyn Store) {
    let ids = three_orders(store).await;
    let lease = Duration::from_secs(60);
    let first = store.claim_outbox(2, lease, now()).await.unwrap();
    assert_eq!(
        first.iter().map(|e| e.order_id).collect::<Vec<_>>(),
        ids[..2],
        "oldest first"
    );
    assert_eq!(
        first
            .iter()
            .map(|e| e.trace_parent.as_ref().map(ToString::to_string))
            .collect::<Vec<_>>(),
        [Some(FIRST_TRACE.to_owned()), None],
        "the placing request's trace context is kept"
    );
    let second = store.claim_outbox(10, lease, now()).await.unwrap();
    assert_eq!(
        second.iter().map(|e| e.order_id).collect::<Vec<_>>(),
        ids[2..],
        "leased ones are skipped"
    );
    assert!(
        store
            .claim_outbox(10, lease, now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.outbox_backlog().await.unwrap(),
        3,
        "claimed is not yet published"
    );

    // A relay that died: once its lease runs out, another relay gets the entries.
    let later = now() + Duration::from_secs(61);
    let reclaimed = store.claim_outbox(10, lease, later).await.unwrap();
    assert_eq!(reclaimed.len(), 3);
}

pub async fn published_outbox_entries_are_never_claimed_again(store: &dyn Store) {
    three_orders(store).await;
    let lease = Duration::from_secs(1);
    let claimed = store.claim_outbox(10, lease, now()).await.unwrap();
    let published: Vec<String> = claimed[..2].iter().map(|e| e.id.clone()).collect();
    store.mark_outbox_sent(&published, now()).await.unwrap();
    store.retry_outbox(&claimed[2].id, now()).await.unwrap();
    assert_eq!(store.outbox_backlog().await.unwrap(), 1);
    let later = now() + Duration::from_secs(3600);
    let again = store.claim_outbox(10, lease, later).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, claimed[2].id);
    assert_eq!(store.pending_outbox(10).await.unwrap().len(), 1);
}

/// `sender`'s claim on an email at `at`, held for 30 s.
fn claim_by(sender: &str, at: time::OffsetDateTime) -> EmailClaim {
    EmailClaim {
        sender: sender.to_owned(),
        lease: Duration::from_secs(30),
        now: at,
    }
}

pub async fn each_order_status_is_notified_once(store: &dyn Store) {
    let ids = three_orders(store).await;
    let (order, status) = (ids[0], OrderStatus::Processed);
    let begin = async |status, at| {
        let claim = claim_by("delivery-1", at);
        store.begin_notification(order, status, &claim).await
    };
    assert_eq!(begin(status, now()).await.unwrap(), NotificationState::Send);
    // A concurrent delivery does not send it a second time, nor does the claim's own sender
    // by claiming again (two receivers may hold one message at once)...
    let other = async |at| {
        let claim = claim_by("delivery-2", at);
        store.begin_notification(order, status, &claim).await
    };
    assert_eq!(other(now()).await.unwrap(), NotificationState::InProgress);
    assert_eq!(
        begin(status, now()).await.unwrap(),
        NotificationState::InProgress
    );
    // ...but once its sender released it (its send failed), the next delivery sends at once.
    store
        .release_notification(order, status, "delivery-2")
        .await
        .unwrap();
    assert_eq!(
        other(now()).await.unwrap(),
        NotificationState::InProgress,
        "only the claim's own sender releases it"
    );
    store
        .release_notification(order, status, "delivery-1")
        .await
        .unwrap();
    assert_eq!(other(now()).await.unwrap(), NotificationState::Send);
    assert_eq!(
        begin(status, now()).await.unwrap(),
        NotificationState::InProgress,
        "the take-over holds the claim for its new sender"
    );
    // Once the lease has passed, the sender is taken to have crashed: another sends again.
    let later = now() + Duration::from_secs(31);
    assert_eq!(begin(status, later).await.unwrap(), NotificationState::Send);
    assert_eq!(
        other(later).await.unwrap(),
        NotificationState::InProgress,
        "the take-over renewed the lease for its new sender"
    );
    assert_eq!(store.notifications_completed(order).await.unwrap(), 0);
    store
        .complete_notification(order, status, None, now())
        .await
        .unwrap();
    assert_eq!(
        begin(status, later).await.unwrap(),
        NotificationState::AlreadySent
    );
    assert_eq!(store.notifications_completed(order).await.unwrap(), 1);

    // Another status of the same order is its own notification; a rejection is final too.
    let failed = OrderStatus::Failed;
    assert_eq!(begin(failed, now()).await.unwrap(), NotificationState::Send);
    store
        .complete_notification(order, failed, Some("address rejected".into()), now())
        .await
        .unwrap();
    let much_later = now() + Duration::from_secs(3600);
    assert_eq!(
        begin(failed, much_later).await.unwrap(),
        NotificationState::AlreadySent
    );
    assert_eq!(store.notifications_completed(order).await.unwrap(), 2);
    assert_eq!(store.notifications_completed(ids[1]).await.unwrap(), 0);
}

pub async fn the_step_that_finishes_an_order_claims_its_email(store: &dyn Store) {
    let (order, processing) = given_a_processing_order(store, "finish@example.com", 2).await;
    let claim = claim_by("delivery-1", now());
    let to_processing = order
        .transition(OrderStatus::Processing, None, now())
        .unwrap();

    // A step that does not apply claims nothing.
    let (lost, state) = store
        .transition_order_claiming_email(&order, &to_processing, &claim)
        .await
        .unwrap();
    assert_eq!(lost, Transitioned::Conflict(Some(processing.clone())));
    assert_eq!(state, None);

    let to_failed = processing
        .transition(OrderStatus::Failed, Some("out of luck".into()), now())
        .unwrap();
    let (finished, state) = store
        .transition_order_claiming_email(&processing, &to_failed, &claim)
        .await
        .unwrap();
    let Transitioned::Applied(failed) = finished else {
        panic!("PROCESSING -> FAILED applies: {finished:?}");
    };
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(store.order(order.id).await.unwrap(), Some(failed));
    assert_eq!(stock_of(store, "a").await, 5, "failing released the stock");
    assert_eq!(state, Some(NotificationState::Send));
    // The claim is the finishing delivery's: others wait for its lease, or its release.
    let begin = async |sender| {
        let claim = claim_by(sender, now());
        store
            .begin_notification(order.id, OrderStatus::Failed, &claim)
            .await
    };
    assert_eq!(
        begin("delivery-2").await.unwrap(),
        NotificationState::InProgress
    );
    store
        .release_notification(order.id, OrderStatus::Failed, "delivery-1")
        .await
        .unwrap();
    assert_eq!(begin("delivery-2").await.unwrap(), NotificationState::Send);
    // Only the status reached was claimed.
    let claim = claim_by("delivery-2", now());
    assert_eq!(
        store
            .begin_notification(order.id, OrderStatus::Processed, &claim)
            .await
            .unwrap(),
        NotificationState::Send
    );
}
