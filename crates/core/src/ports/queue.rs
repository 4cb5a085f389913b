use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or refused the call for now; retry later.
    #[error("the queue is unavailable: {0}")]
    Unavailable(String),
    /// The receipt no longer names an in-flight message (it was deleted or re-received).
    #[error("the receipt handle is no longer valid")]
    StaleReceipt,
}

/// A message to send: a body and string attributes (the trace context travels there).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub body: String,
    pub attributes: BTreeMap<String, String>,
}

/// A message handed out by `receive`, invisible to other consumers until its visibility
/// timeout passes, unless it is deleted first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub id: String,
    /// Names this delivery: delete and change visibility with it.
    pub receipt: String,
    pub body: String,
    pub attributes: BTreeMap<String, String>,
    /// How many times the message has been received, this time included (1 the first time).
    pub receive_count: u32,
    pub sent_at: OffsetDateTime,
}

/// Messages in the queue, approximately (as SQS reports them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    pub dead_lettered: u64,
}

/// A queue with SQS semantics: at-least-once delivery, visibility timeout, receive count,
/// and a dead-letter queue that takes a message received more than the queue's
/// maximum number of times. No method has a default, here as on every port that a
/// decorator wraps (`orderflow-telemetry`'s instrumented ports): a method added later must
/// be written in the decorator too, or it would silently bypass it.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, message: &OutgoingMessage) -> Result<String, QueueError>;
    /// Sends up to ten messages; each one's id or error, in order.
    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Vec<Result<String, QueueError>>;
    /// Up to `max` messages (1 to 10), waiting up to `wait` for the first to arrive.
    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;
    /// Hides the message for `timeout` from now (zero makes it visible at once).
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError>;
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;
    /// Deletes up to ten deliveries; each receipt's outcome, in order.
    async fn delete_batch(&self, receipts: &[String]) -> Vec<Result<(), QueueError>>;
    async fn depth(&self) -> Result<QueueDepth, QueueError>;
    /// The most receives a message gets before it is dead-lettered.
    fn max_receives(&self) -> u32;
}
