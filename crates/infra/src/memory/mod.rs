//! In-process adapters: right for one process; replicas each keep their own.
mod cache;
mod rate_limiter;

pub use cache::MemoryOrderCache;
pub use rate_limiter::MemoryRateLimiter;
