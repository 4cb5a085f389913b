use std::pin::Pin;

use async_trait::async_trait;
use futures_core::Stream;

use crate::domain::{OrderId, OrderStatus};

/// One status change of one order, as announced to live watchers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusEvent {
    pub order_id: OrderId,
    pub status: OrderStatus,
}

#[derive(Debug, thiserror::Error)]
#[error("the status broadcast is unavailable: {0}")]
pub struct BroadcastError(pub String);

/// The changes of one order, from subscription on. Best effort: watchers re-read the store,
/// so a missed event delays an update, it never loses one.
pub type StatusSubscription = Pin<Box<dyn Stream<Item = StatusEvent> + Send>>;

#[async_trait]
pub trait StatusBroadcaster: Send + Sync {
    async fn publish(&self, event: StatusEvent) -> Result<(), BroadcastError>;
    async fn subscribe(&self, order_id: OrderId) -> Result<StatusSubscription, BroadcastError>;
}
