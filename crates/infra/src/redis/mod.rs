//! Redis adapters: the order cache, shared rate-limit counters and the status broadcast over
//! pub/sub, so every API replica and worker sees the same state.
mod broadcaster;
mod cache;
mod connection;
mod outage;
mod rate_limiter;

pub use broadcaster::RedisStatusBroadcaster;
pub use cache::RedisOrderCache;
pub use connection::{RedisConnection, RedisSettings};
pub use rate_limiter::RedisRateLimiter;
