//! The background half of orderflow: the outbox relay that publishes placed orders to the
//! queue, the worker that consumes the queue and processes them, and the sender of the
//! emails their final steps record.
#![forbid(unsafe_code)]

mod deleter;
mod email_sender;
mod housekeeper;
mod relay;
mod sampler;
mod worker;
mod yielding;

pub use email_sender::{EmailSender, EmailSenderSettings};
pub use housekeeper::Housekeeper;
pub use relay::{OutboxRelay, RelaySettings};
pub use sampler::PipelineSampler;
pub use tokio_util::sync::CancellationToken;
pub use worker::{Worker, WorkerSettings};
pub use yielding::YieldToRequests;
