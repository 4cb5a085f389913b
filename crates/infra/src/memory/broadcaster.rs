use async_trait::async_trait;
use futures::StreamExt;
use orderflow_core::OrderId;
use orderflow_core::ports::{BroadcastError, StatusBroadcaster, StatusEvent, StatusSubscription};
use tokio::sync::broadcast;

/// Status changes fanned out to watchers in this process. A watcher that falls behind skips
/// ahead (watchers re-read the store, so nothing is lost).
#[derive(Clone)]
pub struct MemoryStatusBroadcaster {
    sender: broadcast::Sender<StatusEvent>,
}

impl MemoryStatusBroadcaster {
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }
}

#[async_trait]
impl StatusBroadcaster for MemoryStatusBroadcaster {
    async fn publish(&self, event: StatusEvent) -> Result<(), BroadcastError> {
        // No receivers is not an error: nobody is watching.
        let _ = self.sender.send(event);
        Ok(())
    }

    async fn subscribe(&self, order_id: OrderId) -> Result<StatusSubscription, BroadcastError> {
        let receiver = self.sender.subscribe();
        let events = futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, receiver)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |event| std::future::ready(event.order_id == order_id));
        Ok(Box::pin(events))
    }
}
