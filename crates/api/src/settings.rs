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

/// How long and how much a client may take to send its request head, and how long open
/// connections get to finish after a shutdown begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers); larger ones are answered 431.
    /// At least 8 KiB.
    pub max_header_bytes: usize,
    pub shutdown_grace: Duration,
}

impl ConnectionLimits {
    /// The smallest head limit the HTTP server accepts.
    pub const MIN_HEADER_BYTES: usize = 8 * 1024;
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A dependency `/readyz` checks besides the store, which is always required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OptionalDependency {
    /// The order cache: reads fall back to the store without it.
    Cache,
    /// The queue the outbox relay publishes to: the outbox holds orders while it is away.
    Queue,
}

impl OptionalDependency {
    pub const ALL: [Self; 2] = [Self::Cache, Self::Queue];

    /// The name `/readyz` reports it under.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Queue => "queue",
        }
    }
}

/// How many order event streams may be open at once, per user and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub per_user: u32,
    pub total: u32,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            per_user: 5,
            total: 1_000,
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
    /// Beyond these, opening an event stream is answered 429.
    pub event_streams: StreamLimits,
    pub connections: ConnectionLimits,
    /// `Strict-Transport-Security` max-age, when the service is reached only over HTTPS.
    pub hsts_max_age: Option<Duration>,
    /// Origins whose scripts may call the API (CORS); none by default.
    pub cors_allowed_origins: Vec<String>,
    /// Dependencies whose outage `/readyz` reports as degraded (200) instead of unready
    /// (503): a readiness probe then keeps serving replicas in their Service while only
    /// these are down. None by default: every configured dependency must answer.
    pub readiness_optional: Vec<OptionalDependency>,
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
            event_streams: StreamLimits::default(),
            connections: ConnectionLimits::default(),
            hsts_max_age: None,
            cors_allowed_origins: Vec::new(),
            readiness_optional: Vec::new(),
        }
    }
}
