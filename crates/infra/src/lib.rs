//! Adapters of the cache, rate-limit, status-broadcast, queue and mailer ports: in-process
//! and file ones that need nothing installed, and Redis and AWS ones for production.
#![forbid(unsafe_code)]

pub mod aws;
pub mod file;
pub mod memory;
pub mod redis;
