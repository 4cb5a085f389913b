use crate::domain::Order;

/// What became of an order email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailOutcome {
    Sent,
    /// Refused for good; recorded and not retried.
    Rejected,
    /// Failed for now; sent again after a pause.
    Retried,
    /// Failed on its last attempt; recorded as failed and not retried.
    Failed,
}

/// What the use cases report as they go, for metrics. Every method has a default that
/// ignores the report, so an observer implements only what it measures.
pub trait PipelineObserver: Send + Sync {
    /// A status change was applied (the order as it is now).
    fn status_changed(&self, _order: &Order) {}
    fn email(&self, _outcome: EmailOutcome) {}
    /// The cache failed a read or write; the store answered instead.
    fn cache_failed(&self) {}
}

/// Reports nowhere.
pub struct NoObserver;

impl PipelineObserver for NoObserver {}
