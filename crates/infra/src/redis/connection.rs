use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::outage::OutageLog;

/// Where Redis is and how long to wait for it. Short timeouts are the point: a Redis that
/// does not answer must cost a request milliseconds, not seconds, before it falls back.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS.
    pub url: String,
    /// Prepended to every key and channel, so several deployments can share one Redis.
    pub key_prefix: String,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

impl RedisSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "orderflow:".to_owned(),
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("Redis at {url}: {source}")]
pub struct RedisConnectError {
    url: String,
    source: redis::RedisError,
}

/// One multiplexed, self-reconnecting connection shared by the Redis adapters of a process.
#[derive(Clone)]
pub struct RedisConnection {
    pub(crate) client: redis::Client,
    pub(crate) manager: ConnectionManager,
    pub(crate) settings: RedisSettings,
    pub(crate) outage: Arc<OutageLog>,
}

impl RedisConnection {
    /// Connects lazily: a Redis that is down at start-up degrades the service like one that
    /// goes down later, it does not stop it from starting.
    pub fn open(settings: RedisSettings) -> Result<Self, RedisConnectError> {
        let fail = |source| RedisConnectError {
            url: redacted(&settings.url),
            source,
        };
        let client = redis::Client::open(settings.url.as_str()).map_err(fail)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.connect_timeout))
            .set_response_timeout(Some(settings.response_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let manager =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(fail)?;
        Ok(Self {
            client,
            manager,
            settings,
            outage: Arc::new(OutageLog::new("redis")),
        })
    }

    /// The key under this deployment's prefix: the parts joined as they are. Built by
    /// hand, once per cached read, where `format!` cost more than the lookup around it.
    pub(crate) fn key(&self, parts: &[&str]) -> String {
        let prefix = &self.settings.key_prefix;
        let mut key =
            String::with_capacity(prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>());
        key.push_str(prefix);
        for part in parts {
            key.push_str(part);
        }
        key
    }

    /// Calls to Redis that failed since start, by any adapter sharing this connection.
    pub fn failures(&self) -> u64 {
        self.outage.failures()
    }

    pub(crate) async fn ping(&self) -> redis::RedisResult<()> {
        let mut connection = self.manager.clone();
        let result = redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map(drop);
        self.outage.observe(result)
    }
}

/// The URL without its password, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_are_not_repeated_in_messages() {
        assert_eq!(
            redacted("redis://:hunter2@cache:6379/0"),
            "redis://***@cache:6379/0"
        );
        assert_eq!(redacted("redis://cache:6379"), "redis://cache:6379");
    }
}
