//! The Queue contract: SQS semantics as the worker relies on them. Each test gets a fresh,
//! empty queue whose maximum receive count is [`MAX_RECEIVES`].
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use orderflow_core::ports::{OutgoingMessage, Queue, QueueError};

/// The maximum receive count the adapter under test must be created with.
pub const MAX_RECEIVES: u32 = 3;

const NO_WAIT: Duration = Duration::ZERO;
const HIDE: Duration = Duration::from_secs(30);

/// Expands to one `#[tokio::test]` per contract test; `$fresh` is an async fn returning
/// `(impl Queue, keep_alive)` for a new empty queue with [`MAX_RECEIVES`].
#[macro_export]
macro_rules! queue_contract_tests {
    ($fresh:path) => {
        $crate::queue_contract_tests!(@each $fresh;
            sent_messages_are_received_with_body_and_attributes,
            received_messages_stay_hidden_until_their_visibility_passes,
            deleted_messages_never_come_back,
            receive_count_grows_with_each_delivery,
            messages_past_the_receive_limit_are_dead_lettered,
            change_visibility_delays_or_releases_a_message,
            stale_receipts_are_harmless,
            a_stale_receipt_in_a_batch_delete_spares_the_rest,
            batches_are_bounded_and_every_message_arrives_once,
            sent_batches_deliver_every_message_with_its_attributes,
            long_polling_returns_when_a_message_arrives,
        );
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (queue, _keep_alive) = $fresh().await;
                $crate::queue_contract::$name(&queue).await;
            }
        )*
    };
}

fn message(body: &str) -> OutgoingMessage {
    OutgoingMessage {
        body: body.to_owned(),
        attributes: BTreeMap::from([("orderId".to_owned(), body.to_owned())]),
    }
}

pub async fn sent_messages_are_received_with_body_and_attributes(queue: &dyn Queue) {
    let id = queue.send(&message("order-1")).await.unwrap();
    let received = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
    assert_eq!(received.len(), 1);
    let got = &received[0];
    assert_eq!(got.id, id);
    assert_eq!(got.body, "order-1");
    assert_eq!(
        got.attributes.get("orderId").map(String::as_str),
        Some("order-1")
    );
    assert_eq!(got.receive_count, 1);
    assert!(!got.receipt.is_empty());
}

pub async fn received_messages_stay_hidden_until_their_visibility_passes(queue: &dyn Queue) {
    queue.send(&message("hidden")).await.unwrap();
    let first = queue
        .receive(10, NO_WAIT, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        queue.receive(10, NO_WAIT, HIDE).await.unwrap().is_empty(),
        "in flight"
    );
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 1));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
    assert_eq!(again.len(), 1, "visible again after the timeout");
    assert_eq!(again[0].id, first[0].id);
}

pub async fn deleted_messages_never_come_back(queue: &dyn Queue) {
    queue.send(&message("done")).await.unwrap();
    let received = queue
        .receive(10, NO_WAIT, Duration::from_secs(1))
        .await
        .unwrap();
    queue.delete(&received[0].receipt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(queue.receive(10, NO_WAIT, HIDE).await.unwrap().is_empty());
    let depth = queue.depth().await.unwrap();
    assert_eq!(
        (depth.visible, depth.in_flight, depth.dead_lettered),
        (0, 0, 0)
    );
}

pub async fn receive_count_grows_with_each_delivery(queue: &dyn Queue) {
    queue.send(&message("again")).await.unwrap();
    for expected in 1..=2 {
        let received = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
        assert_eq!(received[0].receive_count, expected);
        queue
            .change_visibility(&received[0].receipt, Duration::ZERO)
            .await
            .unwrap();
    }
}

pub async fn messages_past_the_receive_limit_are_dead_lettered(queue: &dyn Queue) {
    assert_eq!(queue.max_receives(), MAX_RECEIVES);
    queue.send(&message("poison")).await.unwrap();
    for expected in 1..=MAX_RECEIVES {
        let received = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].receive_count, expected);
        queue
            .change_visibility(&received[0].receipt, Duration::ZERO)
            .await
            .unwrap();
    }
    assert!(
        queue
            .receive(10, Duration::from_millis(200), HIDE)
            .await
            .unwrap()
            .is_empty()
    );
    let depth = queue.depth().await.unwrap();
    assert_eq!(
        (depth.visible, depth.in_flight, depth.dead_lettered),
        (0, 0, 1)
    );
}

pub async fn change_visibility_delays_or_releases_a_message(queue: &dyn Queue) {
    queue.send(&message("later")).await.unwrap();
    let received = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
    queue
        .change_visibility(&received[0].receipt, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(queue.receive(10, NO_WAIT, HIDE).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
    assert_eq!(again.len(), 1);
    queue
        .change_visibility(&again[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        queue.receive(10, NO_WAIT, HIDE).await.unwrap().len(),
        1,
        "released at once"
    );
}

/// SQS promises little about old receipts: a delete with one "succeeds, but the message
/// might not be deleted", and deleting twice is not an error. The worker relies only on
/// this: such deletes are never reported as the queue being down, and the current receipt
/// always deletes.
pub async fn stale_receipts_are_harmless(queue: &dyn Queue) {
    let harmless = |result: Result<(), QueueError>| {
        assert!(
            matches!(result, Ok(()) | Err(QueueError::StaleReceipt)),
            "{result:?}"
        );
    };
    queue.send(&message("stale")).await.unwrap();
    let first = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
    queue
        .change_visibility(&first[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let second = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
    assert_ne!(
        first[0].receipt, second[0].receipt,
        "each delivery has its own"
    );
    harmless(queue.delete(&first[0].receipt).await);
    harmless(queue.delete(&second[0].receipt).await);
    harmless(queue.delete(&second[0].receipt).await);
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0), "deleted");
}

pub async fn a_stale_receipt_in_a_batch_delete_spares_the_rest(queue: &dyn Queue) {
    for i in 0..3 {
        queue.send(&message(&format!("d{i}"))).await.unwrap();
    }
    let first = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
    assert_eq!(first.len(), 3);
    // The first message's delivery is taken over by another receive: its old receipt is stale.
    queue
        .change_visibility(&first[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let again = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
    assert_eq!(again.len(), 1);
    let mut receipts: Vec<String> = first.iter().map(|m| m.receipt.clone()).collect();
    receipts.push(again[0].receipt.clone());
    let outcomes = queue.delete_batch(&receipts).await;
    assert_eq!(outcomes.len(), 4, "one outcome per receipt");
    // Which of the two receipts of the re-received message deletes it is the queue's
    // business (SQS may honour an old one); neither may fail otherwise.
    for outcome in [&outcomes[0], &outcomes[3]] {
        assert!(
            matches!(outcome, Ok(()) | Err(QueueError::StaleReceipt)),
            "{outcome:?}"
        );
    }
    assert!(outcomes[1].is_ok() && outcomes[2].is_ok(), "{outcomes:?}");
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.in_flight), (0, 0), "all deleted");
}

pub async fn batches_are_bounded_and_every_message_arrives_once(queue: &dyn Queue) {
    for i in 0..25 {
        queue.send(&message(&format!("m{i:02}"))).await.unwrap();
    }
    let mut bodies = BTreeSet::new();
    loop {
        let batch = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 10);
        let receipts: Vec<String> = batch.iter().map(|m| m.receipt.clone()).collect();
        for m in batch {
            assert!(bodies.insert(m.body), "each message once");
        }
        for outcome in queue.delete_batch(&receipts).await {
            outcome.unwrap();
        }
    }
    assert_eq!(bodies.len(), 25);
}

pub async fn sent_batches_deliver_every_message_with_its_attributes(queue: &dyn Queue) {
    // More than one SQS batch (ten) holds.
    let messages: Vec<OutgoingMessage> = (0..23).map(|i| message(&format!("b{i:02}"))).collect();
    let ids: Vec<String> = queue
        .send_batch(&messages)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ids.len(), 23, "one outcome per message");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        23,
        "distinct ids"
    );
    let mut received = BTreeMap::new();
    while received.len() < 23 {
        let batch = queue.receive(10, NO_WAIT, HIDE).await.unwrap();
        assert!(!batch.is_empty(), "only {} of 23 arrived", received.len());
        for m in batch {
            assert_eq!(
                m.attributes.get("orderId"),
                Some(&m.body),
                "attributes travel"
            );
            received.insert(m.id.clone(), m.body);
        }
    }
    let sent: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        sent,
        received.keys().collect(),
        "the ids sent are the ids received"
    );
}

pub async fn long_polling_returns_when_a_message_arrives(queue: &dyn Queue) {
    let empty = std::time::Instant::now();
    assert!(
        queue
            .receive(10, Duration::from_millis(300), HIDE)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        empty.elapsed() >= Duration::from_millis(250),
        "waited for the wait time"
    );

    let started = std::time::Instant::now();
    let (received, ()) = tokio::join!(queue.receive(10, Duration::from_secs(10), HIDE), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        queue.send(&message("late")).await.unwrap();
    });
    assert_eq!(received.unwrap().len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "returned when it arrived"
    );
}
