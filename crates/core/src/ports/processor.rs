use async_trait::async_trait;

use crate::domain::Order;

#[derive(Debug, thiserror::Error)]
pub enum ProcessingError {
    /// Try again later (a downstream service is down).
    #[error("{0}")]
    Transient(String),
    /// The order cannot be fulfilled; it fails with this reason.
    #[error("{0}")]
    Permanent(String),
}

/// The business step between PROCESSING and PROCESSED (payment capture, fulfilment
/// hand-off). Stock is already reserved when it runs.
#[async_trait]
pub trait OrderProcessor: Send + Sync {
    async fn process(&self, order: &Order) -> Result<(), ProcessingError>;
}

/// Accepts every order: the reservation at placement is all the embedded default needs.
pub struct AcceptAll;

#[async_trait]
impl OrderProcessor for AcceptAll {
    async fn process(&self, _order: &Order) -> Result<(), ProcessingError> {
        Ok(())
    }
}
