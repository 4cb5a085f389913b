//! The Store port on one SQLite file in WAL mode: one writer connection on a thread of its
//! own (SQLite allows one writer at a time anyway), and a few readers, which WAL lets read
//! while the writer writes. A read by key takes microseconds and runs where it is called;
//! a read whose cost grows with the data runs on tokio's blocking pool.
mod connections;
mod emails;
mod housekeeping;
mod inventory;
mod orders;
mod outbox;
mod queue;
mod rows;
mod schema;
mod tokens;
mod users;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use orderflow_core::ports::{Store, StoreError};
use tokio::sync::Notify;

use connections::Connections;
pub use queue::SqliteQueue;

#[derive(Debug, thiserror::Error)]
pub enum SqliteStoreError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the SQLite database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot start the SQLite writer thread: {source}")]
    Writer { source: std::io::Error },
    #[error("cannot migrate the SQLite database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the SQLite database {path} has schema version {found}, newer than this build knows ({known}); run a newer orderflow"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
}

#[derive(Clone)]
pub struct SqliteStore {
    db: Connections,
    /// Wakes this process's outbox relay when a placement adds an entry.
    outbox_written: Arc<Notify>,
    /// Wakes this process's email sender when an order's final step records its email.
    email_recorded: Arc<Notify>,
}

impl SqliteStore {
    /// The file this store keeps everything in, inside `data_dir`.
    pub const FILE_NAME: &'static str = "orderflow.sqlite3";

    /// Opens (creating and migrating as needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, SqliteStoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| SqliteStoreError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(Self::FILE_NAME);
        let db = Connections::open(&path)?;
        Ok(Self {
            db,
            outbox_written: Arc::new(Notify::new()),
            email_recorded: Arc::new(Notify::new()),
        })
    }

    /// The same store for background work (the worker, the outbox relay, housekeeping):
    /// its writes wait while requests' writes are waiting, taking only a share of each
    /// transaction, so a burst of requests is not slowed by the work it creates.
    pub fn background(&self) -> Self {
        Self {
            db: self.db.background(),
            outbox_written: Arc::clone(&self.outbox_written),
            email_recorded: Arc::clone(&self.email_recorded),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .lookup(|conn| conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0)))
            .await
            .map(|_| ())
    }
}
