//! orderflow's domain, the ports it needs from the outside world, and the use cases written
//! against those ports. Nothing here knows about HTTP, SQL or any cloud service.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod domain;
pub mod ports;
pub mod usecases;

pub use domain::*;
