//! AWS adapters: SQS as the order queue, SES v2 as the mailer. Credentials, region and
//! endpoint come from the SDK's standard chain (environment, profile, web identity / IRSA,
//! pod identity, instance metadata); `AWS_ENDPOINT_URL` points both at an emulator.
mod sdk_config;
mod ses;
mod sqs;

pub use sdk_config::{AWS_VARIABLES, load_sdk_config};
pub use ses::{SesMailer, SesSettings};
pub use sqs::{SqsQueue, SqsQueueError};
