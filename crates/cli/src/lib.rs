//! The `orderflow` binary's library half: configuration, wiring and commands, so that tests
//! start exactly what `main` starts.
#![forbid(unsafe_code)]

pub mod config;
pub mod controller;
pub mod demo_catalog;
pub mod jwt_secret;
pub mod run;
pub mod seed;
pub mod shutdown;
pub mod worker_probe;
