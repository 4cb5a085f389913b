//! Contract test suites, written once and run against every adapter of a port. An adapter's
//! test file instantiates a suite with its macro and a function that makes a fresh adapter.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::panic)]

pub mod aws;
pub mod broadcast_contract;
pub mod cache_contract;
pub mod fixtures;
pub mod link;
pub mod queue_contract;
pub mod rate_limit_contract;
pub mod services;
pub mod wait;
