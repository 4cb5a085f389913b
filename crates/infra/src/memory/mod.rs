//! In-process adapters: right for one process; replicas each keep their own.
mod broadcaster;
mod cache;
mod rate_limiter;

pub use broadcaster::MemoryStatusBroadcaster;
pub use cache::MemoryOrderCache;
pub use rate_limiter::MemoryRateLimiter;
