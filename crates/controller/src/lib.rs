//! The orderflow Kubernetes controller: InventorySeed resources become seeding Jobs.
#![forbid(unsafe_code)]

pub mod crd;
pub mod job;
pub mod lease;
pub mod metrics;
pub mod reconcile;
pub mod run;

pub use crd::{InventorySeed, InventorySeedSpec, InventorySeedStatus, Phase};
pub use job::SeedDefaults;
pub use lease::LeaseSettings;
pub use metrics::Metrics;
pub use run::{ControllerSettings, Leading, RunError, run};
pub mod manifest;
