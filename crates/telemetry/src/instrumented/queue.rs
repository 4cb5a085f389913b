use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{OutgoingMessage, Queue, QueueDepth, QueueError, ReceivedMessage};
use tracing::field::Empty;

use super::Dependency;
use crate::Metrics;

/// A [`Queue`] whose every call is a messaging client span (`messaging.*` attributes) and a
/// `dependency="queue"` duration.
pub struct InstrumentedQueue {
    inner: Arc<dyn Queue>,
    destination: String,
    dependency: Dependency,
}

impl InstrumentedQueue {
    /// `system` is the OpenTelemetry `messaging.system` (`aws_sqs`, or `sqlite` for the
    /// embedded queue); `destination` the queue's name.
    pub fn new(
        inner: Arc<dyn Queue>,
        system: &'static str,
        destination: impl Into<String>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            inner,
            destination: destination.into(),
            dependency: Dependency {
                kind: "queue",
                system,
                metrics,
            },
        }
    }

    /// `kind` is the OpenTelemetry `messaging.operation.type` (send, receive, settle), when
    /// the call is one of those.
    fn span(&self, operation: &'static str, kind: Option<&'static str>) -> tracing::Span {
        super::within_work(|| {
            tracing::info_span!(
                "queue",
                otel.name = format!("{operation} {}", self.destination),
                otel.kind = if kind == Some("send") { "producer" } else { "client" },
                messaging.system = self.dependency.system,
                messaging.operation.type = kind,
                messaging.operation.name = operation,
                messaging.destination.name = %self.destination,
                messaging.batch.message_count = Empty,
                error.type = Empty,
                otel.status_code = Empty,
            )
        })
    }
}

#[async_trait]
impl Queue for InstrumentedQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<String, QueueError> {
        let span = self.span("send", Some("send"));
        self.dependency
            .call("send", span, self.inner.send(message))
            .await
    }

    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Vec<Result<String, QueueError>> {
        let span = self.span("send_batch", Some("send"));
        span.record("messaging.batch.message_count", messages.len());
        self.dependency
            .call_batch("send_batch", span, self.inner.send_batch(messages))
            .await
    }

    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let span = self.span("receive", Some("receive"));
        let work = self.inner.receive(max, wait, visibility);
        let received = self.dependency.call("receive", span.clone(), work).await;
        if let Ok(messages) = &received {
            span.record("messaging.batch.message_count", messages.len());
        }
        received
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        let span = self.span("change_visibility", Some("settle"));
        let work = self.inner.change_visibility(receipt, timeout);
        self.dependency.call("change_visibility", span, work).await
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let span = self.span("delete", Some("settle"));
        self.dependency
            .call("delete", span, self.inner.delete(receipt))
            .await
    }

    async fn delete_batch(&self, receipts: &[String]) -> Vec<Result<(), QueueError>> {
        let span = self.span("delete_batch", Some("settle"));
        span.record("messaging.batch.message_count", receipts.len());
        self.dependency
            .call_batch("delete_batch", span, self.inner.delete_batch(receipts))
            .await
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let span = self.span("depth", None);
        self.dependency
            .call("depth", span, self.inner.depth())
            .await
    }

    fn max_receives(&self) -> u32 {
        self.inner.max_receives()
    }
}
