//! Adapters that write to the local file system.
mod mailer;

pub use mailer::FileMailer;
