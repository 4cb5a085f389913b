use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{CacheError, OrderCache};
use orderflow_core::{Order, OrderId};
use quick_cache::sync::Cache;

use super::RedisConnection;

/// Writes `ARGV[2]` under `KEYS[1]` as `<version>|<order JSON>` unless the key already holds
/// a version at least as new; one script, so a concurrent refresh cannot slip between the
/// compare and the set.
const PUT_IF_NEWER: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local version = tonumber(string.match(current, '^(%d+)|'))
  if version and version >= tonumber(ARGV[1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1
";

/// How long an order that can still change is cached at most: if a status change's refresh
/// is lost (Redis briefly unreachable), readers see the old status for no longer than this.
const NON_FINAL_TTL: Duration = Duration::from_secs(10);

/// How many decoded orders a replica keeps beside Redis: the orders read right now.
const DECODED_ORDERS: usize = 4_096;

/// Orders cached in Redis with a TTL, shared by every replica. An order's version is the
/// length of its status history, which only grows. Orders in a final status never change and
/// live the full TTL; others at most [`NON_FINAL_TTL`].
#[derive(Clone)]
pub struct RedisOrderCache {
    redis: RedisConnection,
    ttl: Duration,
    put_if_newer: redis::Script,
    /// Orders this replica already decoded, by id, with the version they were decoded
    /// from: an order's content changes only with its version, so a hit whose stored
    /// version matches is answered without decoding the JSON again. Redis stays the
    /// source of what is cached (its TTL, its invalidation): this only skips the decode.
    decoded: Arc<Cache<OrderId, (usize, Arc<Order>)>>,
}

impl RedisOrderCache {
    pub fn new(redis: RedisConnection, ttl: Duration) -> Self {
        Self {
            redis,
            ttl,
            put_if_newer: redis::Script::new(PUT_IF_NEWER),
            decoded: Arc::new(Cache::new(DECODED_ORDERS)),
        }
    }

    fn key(&self, id: OrderId) -> String {
        let mut buffer = uuid::Uuid::encode_buffer();
        let id = id.as_uuid().hyphenated().encode_lower(&mut buffer);
        self.redis.key(&["order:", id])
    }

    fn failed(&self, e: impl std::fmt::Display) -> CacheError {
        self.redis.outage.failed(&e);
        CacheError(e.to_string())
    }
}

/// `<version>|<order JSON>` as stored by [`PUT_IF_NEWER`]'s caller.
fn split_version(stored: &[u8]) -> Option<(usize, &[u8])> {
    let bar = stored.iter().position(|&b| b == b'|')?;
    let (version, json) = (&stored[..bar], &stored[bar + 1..]);
    let version = std::str::from_utf8(version).ok()?.parse().ok()?;
    Some((version, json))
}

#[async_trait]
impl OrderCache for RedisOrderCache {
    async fn get(&self, id: OrderId) -> Result<Option<Arc<Order>>, CacheError> {
        let mut connection = self.redis.manager.clone();
        // Bytes, not a `String`: a hit whose version was decoded before is answered
        // without reading the JSON at all, so checking it for UTF-8 would be wasted.
        let stored: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.key(id))
            .query_async(&mut connection)
            .await
            .map_err(|e| self.failed(e))?;
        self.redis.outage.succeeded();
        let Some(stored) = stored else {
            return Ok(None);
        };
        let Some((version, json)) = split_version(&stored) else {
            tracing::debug!(%id, "cached order without a version; ignoring it");
            return Ok(None);
        };
        if let Some((decoded_version, order)) = self.decoded.get(&id)
            && decoded_version == version
        {
            return Ok(Some(order));
        }
        match serde_json::from_slice::<Order>(json) {
            Ok(order) => {
                let order = Arc::new(order);
                // Keyed by the version the order itself has, so a mislabelled entry is never
                // taken for another version.
                self.decoded
                    .insert(id, (order.version(), Arc::clone(&order)));
                Ok(Some(order))
            }
            // Written by another version of orderflow: a miss, refilled from the store.
            Err(e) => {
                tracing::debug!(%id, error = %e, "unreadable cached order; ignoring it");
                Ok(None)
            }
        }
    }

    async fn put(&self, order: &Order) -> Result<(), CacheError> {
        let json = serde_json::to_string(order).map_err(|e| CacheError(e.to_string()))?;
        let ttl = if order.status.is_terminal() {
            self.ttl
        } else {
            self.ttl.min(NON_FINAL_TTL)
        };
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut connection = self.redis.manager.clone();
        self.put_if_newer
            .key(self.key(order.id))
            .arg(order.version())
            .arg(json)
            .arg(ttl_ms)
            .invoke_async::<i64>(&mut connection)
            .await
            .map_err(|e| self.failed(e))?;
        self.redis.outage.succeeded();
        Ok(())
    }

    async fn invalidate(&self, id: OrderId) -> Result<(), CacheError> {
        let mut connection = self.redis.manager.clone();
        redis::cmd("DEL")
            .arg(self.key(id))
            .query_async::<i64>(&mut connection)
            .await
            .map_err(|e| self.failed(e))?;
        self.redis.outage.succeeded();
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        self.redis
            .ping()
            .await
            .map_err(|e| CacheError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::split_version;

    #[test]
    fn the_version_is_read_before_the_first_bar() {
        assert_eq!(
            split_version(b"3|{\"a\":\"x|y\"}"),
            Some((3, &b"{\"a\":\"x|y\"}"[..]))
        );
        assert_eq!(split_version(b"12|"), Some((12, &b""[..])));
    }

    #[test]
    fn an_entry_without_a_version_is_not_read() {
        for stored in [&b"{\"id\":1}"[..], b"|{}", b"x|{}", b"-1|{}", b"\xff|{}"] {
            assert_eq!(split_version(stored), None, "{stored:?}");
        }
    }
}
