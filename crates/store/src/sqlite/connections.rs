use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orderflow_core::ports::StoreError;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{SqliteStoreError, schema};

const READERS: usize = 4;
/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer and reader connections, each used by one blocking task at a time.
#[derive(Clone)]
pub(crate) struct Connections {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<AtomicUsize>,
}

impl Connections {
    pub(crate) fn open(path: &Path) -> Result<Self, SqliteStoreError> {
        let open_error = |source| SqliteStoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut writer = Connection::open(path).map_err(open_error)?;
        configure(&writer).map_err(open_error)?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        schema::migrate(&mut writer, path)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&reader)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, rusqlite::Error>>()
            .map_err(open_error)?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers),
            next_reader: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs `work` in one IMMEDIATE transaction (the write lock is taken up front, so two
    /// writers never deadlock upgrading), committing only if it returns `Ok`.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<Outcome<T>, rusqlite::Error>
            + Send
            + 'static,
    {
        let writer = Arc::clone(&self.writer);
        blocking(move || {
            let mut conn = writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match work(&tx)? {
                Outcome::Commit(value) => {
                    tx.commit()?;
                    Ok(value)
                }
                Outcome::Rollback(value) => {
                    tx.rollback()?;
                    Ok(value)
                }
            }
        })
        .await
    }

    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let index = self.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        blocking(move || {
            let conn = readers[index]
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&conn)
        })
        .await
    }
}

/// What a write transaction decided.
pub(crate) enum Outcome<T> {
    Commit(T),
    Rollback(T),
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

async fn blocking<T, F>(work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, rusqlite::Error> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
        .map_err(into_store_error)
}

pub(crate) fn into_store_error(error: rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(error.to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}
