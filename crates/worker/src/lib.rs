//! The background half of orderflow: the outbox relay that publishes placed orders to the
//! queue, and the worker that consumes the queue and processes them.
#![forbid(unsafe_code)]

mod backoff;
mod deleter;
mod housekeeper;
mod relay;
mod sampler;
mod worker;
mod yielding;

pub use housekeeper::Housekeeper;
pub use relay::{OutboxRelay, RelaySettings};
pub use sampler::PipelineSampler;
pub use tokio_util::sync::CancellationToken;
pub use worker::{Worker, WorkerSettings};
pub use yielding::YieldToRequests;
