use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orderflow_core::ports::{RateDecision, RateLimitError, RateLimiter};

/// Fixed-window counters, the same scheme a shared counter store (INCR + EXPIRE) uses, so
/// limits mean the same whichever adapter runs.
pub struct MemoryRateLimiter {
    windows: Mutex<HashMap<String, Window>>,
    max_keys: usize,
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
    /// `max_keys` bounds memory under a flood of distinct keys (many IPs): expired windows
    /// are swept when it is reached.
    pub fn new(max_keys: usize) -> Self {
        Self {
            windows: Mutex::new(HashMap::new()),
            max_keys,
        }
    }

    fn count(&self, key: &str, limit: u32, length: Duration, count_it: bool) -> RateDecision {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() >= self.max_keys && !windows.contains_key(key) {
            windows.retain(|_, w| !w.is_over(now));
        }
        let fresh = Window {
            started: now,
            length,
            count: 0,
        };
        let window = windows.entry(key.to_owned()).or_insert(fresh);
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
