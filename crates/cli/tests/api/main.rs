//! Black-box tests: the real application (as `orderflow serve` builds it) on a random port,
//! driven over HTTP.
#![allow(clippy::unwrap_used)]

mod auth;
mod binary;
mod concurrency;
mod errors;
mod helpers;
mod inventory;
mod messaging;
mod openapi;
mod orders;
mod processes;
mod processing;
mod rate_limits;
mod security;
mod seed;
