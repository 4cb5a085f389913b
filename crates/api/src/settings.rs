use std::time::Duration;

use ipnet::IpNet;
use orderflow_core::usecases::CachePolicy;

/// Request limits per client: how many in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Per client IP, for each of register, login and refresh.
    pub per_ip: RateLimit,
    /// Failed logins per email.
    pub failed_logins_per_email: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_ip: RateLimit {
                limit: 30,
                window: Duration::from_secs(60),
            },
            failed_logins_per_email: RateLimit {
                limit: 10,
                window: Duration::from_secs(15 * 60),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub rate_limits: RateLimits,
    /// Peers whose `X-Forwarded-For` is believed (the ingress, a load balancer).
    pub trusted_proxies: Vec<IpNet>,
    pub body_limit_bytes: usize,
    pub refresh_token_ttl: Duration,
    pub cache_policy: CachePolicy,
    /// How often an order's event stream re-reads the store besides being woken by the
    /// status broadcast: the safety net for a missed broadcast, and the only way to hear a
    /// worker in another process when the broadcast is in-process.
    pub events_recheck: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            rate_limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            body_limit_bytes: 64 * 1024,
            refresh_token_ttl: Duration::from_secs(7 * 24 * 3600),
            cache_policy: CachePolicy::AllOrders,
            events_recheck: Duration::from_millis(500),
        }
    }
}
