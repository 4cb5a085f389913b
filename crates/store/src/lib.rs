//! Store adapters: the embedded SQLite store (the default, nothing to install) and MongoDB.
#![forbid(unsafe_code)]

pub mod mongo;
pub mod sqlite;

pub use mongo::{MongoStore, MongoStoreError};
pub use sqlite::{SqliteQueue, SqliteStore, SqliteStoreError};
