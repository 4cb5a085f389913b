//! The Queue contract against the embedded SQLite queue.
#![allow(clippy::unwrap_used)]

use orderflow_store::{SqliteQueue, SqliteStore};
use orderflow_testkit::queue_contract::MAX_RECEIVES;

async fn fresh() -> (SqliteQueue, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (SqliteQueue::new(&store, MAX_RECEIVES), dir)
}

orderflow_testkit::queue_contract_tests!(fresh);

#[tokio::test]
async fn two_processes_on_one_file_share_the_queue() {
    use orderflow_core::ports::{OutgoingMessage, Queue};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    // Two independent opens of the file stand for two processes.
    let sender = SqliteQueue::new(&SqliteStore::open(dir.path()).unwrap(), MAX_RECEIVES);
    let receiver = SqliteQueue::new(&SqliteStore::open(dir.path()).unwrap(), MAX_RECEIVES);
    let (received, _) = tokio::join!(
        receiver.receive(10, Duration::from_secs(5), Duration::from_secs(30)),
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            sender
                .send(&OutgoingMessage {
                    body: "x".into(),
                    ..Default::default()
                })
                .await
                .unwrap()
        }
    );
    assert_eq!(
        received.unwrap().len(),
        1,
        "found by polling across connections"
    );
}

/// Dead letters among the next messages do not shorten a receive: the ones after them are
/// received in the same call.
#[tokio::test]
async fn a_receive_looks_past_the_messages_it_dead_letters() {
    use orderflow_core::ports::{OutgoingMessage, Queue};
    use std::time::Duration;
    let (queue, _dir) = fresh().await;
    let message = |body: &str| OutgoingMessage {
        body: body.into(),
        ..Default::default()
    };
    queue.send(&message("poison")).await.unwrap();
    for _ in 0..MAX_RECEIVES {
        let received = queue
            .receive(1, Duration::ZERO, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(received.len(), 1);
        queue
            .change_visibility(&received[0].receipt, Duration::ZERO)
            .await
            .unwrap();
    }
    queue.send(&message("fresh")).await.unwrap();
    let received = queue
        .receive(1, Duration::ZERO, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(received.len(), 1, "the message after the dead letter");
    assert_eq!(received[0].body, "fresh");
    let depth = queue.depth().await.unwrap();
    assert_eq!((depth.visible, depth.dead_lettered), (0, 1));
}
