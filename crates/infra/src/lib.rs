//! Adapters for the cache and rate-limit ports. The in-process ones need nothing installed.
#![forbid(unsafe_code)]

pub mod file;
pub mod memory;
