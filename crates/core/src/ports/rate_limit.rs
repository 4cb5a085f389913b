use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    Limited { retry_after: Duration },
}

#[derive(Debug, thiserror::Error)]
#[error("the rate limiter is unavailable: {0}")]
pub struct RateLimitError(pub String);

/// Fixed-window counters by key.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Whether one more event for `key` is within `limit` per `window`, counting it when
    /// `count_it` (an event over the limit is never counted).
    async fn decide(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        count_it: bool,
    ) -> Result<RateDecision, RateLimitError>;

    /// Counts one event for `key` and says whether it is within `limit` per `window`.
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, RateLimitError> {
        self.decide(key, limit, window, true).await
    }

    /// Says whether one more event would still be allowed, without counting one.
    async fn check(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
    ) -> Result<RateDecision, RateLimitError> {
        self.decide(key, limit, window, false).await
    }
}
