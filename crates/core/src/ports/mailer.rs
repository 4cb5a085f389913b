use async_trait::async_trait;

use crate::domain::EmailMessage;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// Worth retrying: the service is down, throttling, or timed out.
    #[error("sending failed for now: {0}")]
    Transient(String),
    /// The message was refused for good (bad address, rejected content).
    #[error("the message was rejected: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `message`. Mailers that can, treat a second send of the same
    /// [`EmailMessage::idempotency_key`] as a no-op.
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError>;
}
