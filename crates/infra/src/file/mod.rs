//! The adapter on the local file system: the .eml mailer.
mod mailer;

pub use mailer::FileMailer;
