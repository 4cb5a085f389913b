use std::convert::Infallible;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orderflow_core::ports::{RateDecision, RateLimitError, RateLimiter};
use quick_cache::unsync::Cache;

/// Fixed-window counters, the same scheme a shared counter store (INCR + EXPIRE) uses, so
/// limits mean the same whichever adapter runs.
pub struct MemoryRateLimiter {
    /// Bounded: under a flood of distinct keys (many IPs) the coldest windows make room, in
    /// constant time. A window past its length is started afresh when its key comes back.
    windows: Mutex<Cache<String, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    length: Duration,
    count: u32,
}

impl Window {
    fn is_over(&self, now: Instant) -> bool {
        now.duration_since(self.started) >= self.length
    }
}

impl MemoryRateLimiter {
    /// Holds the windows of at most about `max_keys` keys.
    pub fn new(max_keys: usize) -> Self {
        Self {
            windows: Mutex::new(Cache::new(max_keys.max(1))),
        }
    }

    fn count(&self, key: &str, limit: u32, length: Duration, count_it: bool) -> RateDecision {
        let now = Instant::now();
        let fresh = Window {
            started: now,
            length,
            count: 0,
        };
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Ok(Some(mut window)) =
            windows.get_mut_or_insert_with(key, || Ok::<_, Infallible>(fresh))
        else {
            // Not admitted: under a flood the cache keeps the keys it sees most, and a key
            // seen once is not counted until it comes back.
            return RateDecision::Allowed;
        };
        if window.is_over(now) {
            *window = fresh;
        }
        if window.count >= limit {
            return RateDecision::Limited {
                retry_after: window
                    .length
                    .saturating_sub(now.duration_since(window.started)),
            };
        }
        if count_it {
            window.count += 1;
        }
        RateDecision::Allowed
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn decide(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        count_it: bool,
    ) -> Result<RateDecision, RateLimitError> {
        Ok(self.count(key, limit, window, count_it))
    }
}
