use std::sync::Arc;
use std::time::Duration;

use orderflow_core::ports::{Queue, QueueError};
use orderflow_telemetry::Metrics;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Most receipts one delete call takes (the SQS batch limit).
const BATCH: usize = 10;
/// How long a finished message waits for others to share its delete call.
const LINGER: Duration = Duration::from_millis(5);

/// Deletes finished messages in batches: one call per ten messages instead of ten. A message
/// whose delete is lost is only redelivered, which the worker makes harmless.
#[derive(Clone)]
pub(crate) struct Deleter {
    sender: mpsc::Sender<Finished>,
}

pub(crate) struct Finished {
    pub message_id: String,
    pub receipt: String,
}

impl Deleter {
    /// The deleter and its task; the task ends once every `Deleter` clone is dropped and the
    /// last batch is deleted.
    pub(crate) fn start(
        queue: Arc<dyn Queue>,
        metrics: Arc<Metrics>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(1024);
        let task = tokio::spawn(run(queue, metrics, receiver));
        (Self { sender }, task)
    }

    pub(crate) async fn delete(&self, finished: Finished) {
        // The task only stops after every sender is gone, so this cannot fail.
        let _ = self.sender.send(finished).await;
    }
}

/// Delete calls in flight at once: one at a time would cap the worker at one batch per
/// queue round trip.
const IN_FLIGHT: usize = 4;

async fn run(queue: Arc<dyn Queue>, metrics: Arc<Metrics>, mut receiver: mpsc::Receiver<Finished>) {
    let mut deleting = JoinSet::new();
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        let linger = tokio::time::sleep(LINGER);
        tokio::pin!(linger);
        while batch.len() < BATCH {
            tokio::select! {
                next = receiver.recv() => match next {
                    Some(finished) => batch.push(finished),
                    None => break,
                },
                () = &mut linger => break,
            }
        }
        while deleting.try_join_next().is_some() {}
        if deleting.len() >= IN_FLIGHT {
            deleting.join_next().await;
        }
        deleting.spawn(delete(Arc::clone(&queue), Arc::clone(&metrics), batch));
    }
    while deleting.join_next().await.is_some() {}
}

async fn delete(queue: Arc<dyn Queue>, metrics: Arc<Metrics>, batch: Vec<Finished>) {
    let receipts: Vec<String> = batch.iter().map(|f| f.receipt.clone()).collect();
    let outcomes = queue.delete_batch(&receipts).await;
    metrics.messages_deleted(outcomes.iter().filter(|o| o.is_ok()).count() as u64);
    for (finished, outcome) in batch.iter().zip(outcomes) {
        match outcome {
            Ok(()) => {}
            // Its visibility ran out and another delivery owns it now; that one finishes.
            Err(QueueError::StaleReceipt) => {
                tracing::debug!(message_id = %finished.message_id, "message was redelivered before delete");
            }
            Err(e) => {
                tracing::warn!(message_id = %finished.message_id, error = %e,
                    "delete failed; the message will be redelivered");
            }
        }
    }
}
