use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use orderflow_core::backoff::exponential;
use orderflow_core::ports::{BroadcastError, StatusBroadcaster, StatusEvent, StatusSubscription};
use orderflow_core::{OrderId, OrderStatus};
use serde::{Deserialize, Serialize};

use super::RedisConnection;
use crate::memory::MemoryStatusBroadcaster;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent {
    order_id: OrderId,
    status: OrderStatus,
}

/// Status changes published on one Redis channel and fanned out, in each process, by one
/// subscription to its local watchers: a watcher on any API replica sees a change made by a
/// worker anywhere. Pub/sub is best effort, like the port: watchers also re-read the store.
#[derive(Clone)]
pub struct RedisStatusBroadcaster {
    redis: RedisConnection,
    channel: String,
    local: MemoryStatusBroadcaster,
    subscribed: tokio::sync::watch::Receiver<bool>,
    _listener: Arc<AbortOnDrop>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RedisStatusBroadcaster {
    /// Starts listening at once (and keeps reconnecting while Redis is away); must be called
    /// inside a Tokio runtime.
    pub fn new(redis: RedisConnection, local_capacity: usize) -> Self {
        let channel = redis.key(&["order-status"]);
        let local = MemoryStatusBroadcaster::new(local_capacity);
        let (subscribed_tx, subscribed) = tokio::sync::watch::channel(false);
        let listener = tokio::spawn(listen(
            redis.client.clone(),
            channel.clone(),
            local.clone(),
            subscribed_tx,
        ));
        Self {
            redis,
            channel,
            local,
            subscribed,
            _listener: Arc::new(AbortOnDrop(listener)),
        }
    }

    /// Waits until this process hears the channel (events published before are not heard
    /// here); false if that did not happen within `timeout`.
    pub async fn wait_until_subscribed(&self, timeout: Duration) -> bool {
        let mut subscribed = self.subscribed.clone();
        tokio::time::timeout(timeout, subscribed.wait_for(|s| *s))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Forwards the channel's messages to the local watchers for as long as the process runs,
/// resubscribing after every disconnect.
async fn listen(
    client: redis::Client,
    channel: String,
    local: MemoryStatusBroadcaster,
    subscribed: tokio::sync::watch::Sender<bool>,
) {
    let mut failures = 0u32;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    tracing::debug!(%channel, "subscribed to status changes");
                    failures = 0;
                    subscribed.send_replace(true);
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(payload) = message.get_payload::<String>() else {
                            continue;
                        };
                        if let Ok(event) = serde_json::from_str::<WireEvent>(&payload) {
                            let _ = local
                                .publish(StatusEvent {
                                    order_id: event.order_id,
                                    status: event.status,
                                })
                                .await;
                        }
                    }
                    subscribed.send_replace(false);
                    tracing::debug!(%channel, "status subscription lost; resubscribing");
                }
                Err(e) => tracing::debug!(error = %e, "subscribing to status changes failed"),
            },
            Err(e) => tracing::debug!(error = %e, "connecting for status changes failed"),
        }
        failures = failures.saturating_add(1);
        let pause = exponential(Duration::from_millis(100), Duration::from_secs(5), failures);
        tokio::time::sleep(pause).await;
    }
}

#[async_trait]
impl StatusBroadcaster for RedisStatusBroadcaster {
    async fn publish(&self, event: StatusEvent) -> Result<(), BroadcastError> {
        let payload = serde_json::to_string(&WireEvent {
            order_id: event.order_id,
            status: event.status,
        })
        .map_err(|e| BroadcastError(e.to_string()))?;
        let mut connection = self.redis.manager.clone();
        let result = redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query_async::<i64>(&mut connection)
            .await;
        self.redis
            .outage
            .observe(result)
            .map(drop)
            .map_err(|e| BroadcastError(e.to_string()))
    }

    async fn subscribe(&self, order_id: OrderId) -> Result<StatusSubscription, BroadcastError> {
        self.local.subscribe(order_id).await
    }
}
