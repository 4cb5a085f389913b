use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{RateDecision, RateLimitError, RateLimiter};

use super::RedisConnection;

/// Fixed window per key, as the in-process limiter counts: the window starts at the key's
/// first event and the count stops growing at the limit. Returns `{allowed, retry_after_ms}`.
const FIXED_WINDOW: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
  return {0, ttl}
end
if ARGV[3] == '1' then
  if redis.call('INCR', KEYS[1]) == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
end
return {1, 0}
";

/// Rate-limit counters shared by every API replica.
#[derive(Clone)]
pub struct RedisRateLimiter {
    redis: RedisConnection,
    fixed_window: redis::Script,
}

impl RedisRateLimiter {
    pub fn new(redis: RedisConnection) -> Self {
        Self {
            redis,
            fixed_window: redis::Script::new(FIXED_WINDOW),
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn decide(
        &self,
        key: &str,
        limit: u32,
        window: Duration,
        count_it: bool,
    ) -> Result<RateDecision, RateLimitError> {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let redis_key = self.redis.key(&["ratelimit:", key]);
        let mut connection = self.redis.manager.clone();
        let result = self
            .fixed_window
            .key(redis_key)
            .arg(limit)
            .arg(window_ms)
            .arg(if count_it { "1" } else { "0" })
            .invoke_async::<(i64, i64)>(&mut connection)
            .await;
        let (allowed, retry_after_ms) = self
            .redis
            .outage
            .observe(result)
            .map_err(|e| RateLimitError(e.to_string()))?;
        Ok(if allowed == 1 {
            RateDecision::Allowed
        } else {
            RateDecision::Limited {
                retry_after: Duration::from_millis(u64::try_from(retry_after_ms).unwrap_or(0)),
            }
        })
    }
}
