//! Adapters on the local file system: the catalog file reader and the .eml mailer.
pub mod catalog;
mod mailer;

pub use mailer::FileMailer;
