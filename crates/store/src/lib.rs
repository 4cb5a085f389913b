//! Store adapters: the embedded SQLite store (the default, nothing to install).
#![forbid(unsafe_code)]

pub mod sqlite;

pub use sqlite::{SqliteQueue, SqliteStore, SqliteStoreError};
