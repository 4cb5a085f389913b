//! The SQLite connections: one writer thread that commits the writes waiting together in
//! one transaction, each in a savepoint, requests' writes first (the placement and drain
//! targets, docs/BENCHMARKS.md), and pooled readers that WAL lets read meanwhile.
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError, mpsc};
use std::time::{Duration, Instant};

use orderflow_core::ports::StoreError;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{SqliteStoreError, schema};

const READERS: usize = 4;
/// How long a statement waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer connection, owned by a thread of its own, and reader connections, each used
/// by one blocking task at a time.
#[derive(Clone)]
pub(crate) struct Connections {
    writes: mpsc::Sender<(Priority, WriteJob)>,
    /// Whose writes this handle sends.
    priority: Priority,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<AtomicUsize>,
}

/// Whose write a job is. The one writer serves requests' writes first: a client waits on
/// those, while background work (the worker, the outbox relay, housekeeping) has a queue
/// to absorb a burst and catches up after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    Request,
    Background,
}

/// One caller's write: given the writer inside the group's transaction (or why there is
/// none), it runs in a savepoint of its own and leaves its answer for after the commit.
type WriteJob = Box<dyn FnOnce(Result<&Connection, &str>) -> Answer + Send>;

/// A job's answer, sent once the commit is known, so no caller hears of a write that did not
/// reach the file.
type Answer = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// Most jobs one transaction carries.
const GROUP: usize = 64;

/// The background jobs a group carries while requests' writes wait too: enough that
/// background work never stops, few enough that a request's write waits for little
/// besides other requests' (placement with the worker, docs/BENCHMARKS.md).
const BACKGROUND_SHARE: usize = 4;

/// Prepared statements kept per connection: more than the store has.
const STATEMENT_CACHE: usize = 128;

impl Connections {
    pub(crate) fn open(path: &Path) -> Result<Self, SqliteStoreError> {
        let open_error = |source| SqliteStoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut writer = Connection::open(path).map_err(open_error)?;
        configure(&writer).map_err(open_error)?;
        use_wal(&writer).map_err(open_error)?;
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
        let (writes, jobs) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || write_groups(writer, jobs))
            .map_err(|source| SqliteStoreError::Writer { source })?;
        Ok(Self {
            writes,
            priority: Priority::Request,
            readers: Arc::new(readers),
            next_reader: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The same connections, whose writes yield to those of requests.
    pub(crate) fn background(&self) -> Self {
        Self {
            priority: Priority::Background,
            ..self.clone()
        }
    }

    /// Runs `work` as one transaction of its own, committed only if it returns `Ok` with
    /// [`Outcome::Commit`]. Writes that arrive together share one IMMEDIATE transaction (the
    /// write lock is taken up front, so two processes never deadlock upgrading), each in a
    /// savepoint: what one rolls back touches no other, and one commit serves them all.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<Outcome<T>, rusqlite::Error> + Send + 'static,
    {
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let result = conn
                .map_err(unavailable)
                .and_then(|conn| in_savepoint(conn, work));
            Box::new(move |committed: Result<(), &str>| {
                // The caller may have gone (its request was cancelled).
                let _ = done.send(committed.map_err(unavailable).and(result));
            })
        });
        self.writes
            .send((self.priority, job))
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite write did not finish".to_owned()))?
            .map_err(into_store_error)
    }

    /// A read whose cost grows with the data (a count, a sort of many rows): on the
    /// blocking pool, so that it holds up no request.
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

    /// A read whose cost does not grow with the data (rows by key, a page an index bounds):
    /// run where it is called when a reader is free. It takes microseconds from pages in
    /// memory; handing it to the blocking pool and back cost more, in a thread woken on
    /// each side.
    pub(crate) async fn lookup<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        match self.on_free_reader(work) {
            Ok(result) => result.map_err(into_store_error),
            // Every reader is busy: wait for one on the blocking pool, not here.
            Err(work) => self.read(work).await,
        }
    }

    /// Runs `work` on the first reader not in use, or gives it back when all are.
    fn on_free_reader<T, F>(&self, work: F) -> Result<Result<T, rusqlite::Error>, F>
    where
        F: FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    {
        let first = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.readers.len() {
            let reader = &self.readers[(first + offset) % self.readers.len()];
            let conn = match reader.try_lock() {
                Ok(conn) => conn,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            return Ok(work(&conn));
        }
        Err(work)
    }
}

/// The writer thread: takes the jobs waiting (up to [`GROUP`], requests' first), runs them
/// in one transaction and answers each once it is committed. Ends when every sender is
/// gone and every job taken is done.
fn write_groups(mut conn: Connection, jobs: mpsc::Receiver<(Priority, WriteJob)>) {
    let mut waiting = Waiting::default();
    loop {
        if waiting.is_empty() {
            match jobs.recv() {
                Ok((priority, job)) => waiting.push(priority, job),
                Err(_) => return,
            }
        }
        while let Ok((priority, job)) = jobs.try_recv() {
            waiting.push(priority, job);
        }
        commit_group(&mut conn, waiting.next_group());
    }
}

fn commit_group(conn: &mut Connection, group: Vec<WriteJob>) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let why = e.to_string();
            for job in group {
                job(Err(&why))(Err(&why));
            }
            return;
        }
    };
    let answers: Vec<Answer> = group
        .into_iter()
        .filter_map(|job| {
            // A panicking job loses only its own answer (its caller hears the write did not
            // finish) and what it wrote; the others go on.
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(&tx))));
            if ran.is_err() {
                let _ = roll_back_job(&tx);
            }
            ran.ok()
        })
        .collect();
    let committed = tx.commit().map_err(|e| e.to_string());
    for answer in answers {
        answer(committed.as_ref().map(|_| ()).map_err(String::as_str));
    }
}

/// The jobs taken from the channel and not yet run, in order of arrival within each
/// priority.
#[derive(Default)]
struct Waiting {
    requests: VecDeque<WriteJob>,
    background: VecDeque<WriteJob>,
}

impl Waiting {
    fn push(&mut self, priority: Priority, job: WriteJob) {
        match priority {
            Priority::Request => self.requests.push_back(job),
            Priority::Background => self.background.push_back(job),
        }
    }

    fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.background.is_empty()
    }

    /// Requests' jobs first; background jobs fill the rest of the group when no request
    /// waits, and at most [`BACKGROUND_SHARE`] of it when one does.
    fn next_group(&mut self) -> Vec<WriteJob> {
        let requests = self
            .requests
            .len()
            .min(GROUP - self.background.len().min(BACKGROUND_SHARE));
        let room = if requests == 0 {
            GROUP
        } else {
            BACKGROUND_SHARE
        };
        let background = self.background.len().min(room);
        self.requests
            .drain(..requests)
            .chain(self.background.drain(..background))
            .collect()
    }
}

/// An error for the caller that names why the store could not write.
fn unavailable(why: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
        Some(why.to_owned()),
    )
}

/// Runs `work` in a savepoint, released if it commits, rolled back otherwise. (The
/// savepoint statements are prepared once per connection: parsing them for every write
/// cost the one writer thread more than many of the writes themselves. The savepoint's
/// journal of the pages it changes stays in memory, see [`configure`].)
fn in_savepoint<T, F>(conn: &Connection, work: F) -> Result<T, rusqlite::Error>
where
    F: FnOnce(&Connection) -> Result<Outcome<T>, rusqlite::Error>,
{
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    match work(conn) {
        Ok(Outcome::Commit(value)) => {
            conn.prepare_cached("RELEASE job")?.execute([])?;
            Ok(value)
        }
        Ok(Outcome::Rollback(value)) => {
            roll_back_job(conn)?;
            Ok(value)
        }
        Err(e) => {
            roll_back_job(conn)?;
            Err(e)
        }
    }
}

fn roll_back_job(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
    conn.prepare_cached("RELEASE job")?.execute([])?;
    Ok(())
}

/// What a write transaction decided.
pub(crate) enum Outcome<T> {
    Commit(T),
    Rollback(T),
}

/// Switching a new file to WAL takes an exclusive lock without waiting in the busy
/// handler, so a second process opening the same new file at that moment is told "locked"
/// at once: it tries again, as long as any other statement would wait.
fn use_wal(conn: &Connection) -> Result<(), rusqlite::Error> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            done => return done,
        }
    }
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Savepoint journals (each write of a group runs in one) in memory, however large. By
    // default SQLite keeps 64 KiB in memory and then moves the journal to a temporary file
    // for the rest of the transaction: every job after it in the group then paid two write
    // calls per page it changed, and placements that split a page outgrew 64 KiB often.
    // In memory the journal costs an allocation per quarter page, far less. A larger
    // limit instead (`SQLITE_STMTJRNL_SPILL`) failed the write that outgrew it with
    // "database or disk is full".
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Every statement the store runs stays prepared (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Without the query planner stability guarantee, SQLite compiles a bound LIMIT into
    // the plan and prepares the statement again whenever a new value is bound: every
    // queue receive, outbox claim and order listing paid a parse. No plan here depends on bound values
    // (no statistics tables, no partial indexes), so nothing is lost.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;

    use futures::future::join_all;

    use super::*;

    /// Queues `writes` (how many of each priority, in that order) while the writer is held,
    /// so that they all wait at once, then lets it go; returns the priorities in the order
    /// the writer ran them.
    async fn run_order(writes: &[(Priority, usize)]) -> Vec<Priority> {
        let dir = tempfile::tempdir().unwrap();
        let db = Connections::open(&dir.path().join("test.sqlite3")).unwrap();
        let ran = Arc::new(Mutex::new(Vec::new()));
        let (started, writer_is_held) = std::sync::mpsc::channel();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let writer = db.clone();
        let holder = tokio::spawn(async move {
            writer
                .write(move |_| {
                    started.send(()).unwrap();
                    held.recv().unwrap();
                    Ok(Outcome::Commit(()))
                })
                .await
        });
        tokio::task::spawn_blocking(move || writer_is_held.recv())
            .await
            .unwrap()
            .unwrap();
        let mut steps: Vec<Pin<Box<dyn Future<Output = ()>>>> = Vec::new();
        for &(priority, count) in writes {
            let handle = match priority {
                Priority::Request => db.clone(),
                Priority::Background => db.background(),
            };
            for _ in 0..count {
                let (handle, ran) = (handle.clone(), Arc::clone(&ran));
                steps.push(Box::pin(async move {
                    handle
                        .write(move |_| {
                            ran.lock().unwrap().push(priority);
                            Ok(Outcome::Commit(()))
                        })
                        .await
                        .unwrap();
                }));
            }
        }
        // join_all polls in order: every write is queued before the writer is let go.
        steps.push(Box::pin(async move { release.send(()).unwrap() }));
        join_all(steps).await;
        holder.await.unwrap().unwrap();
        ran.lock().unwrap().clone()
    }

    #[test]
    fn statements_with_a_bound_limit_stay_prepared_across_bindings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        drop(Connections::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        configure(&conn).unwrap();
        let mut statement = conn
            .prepare("SELECT id FROM queue_messages ORDER BY visible_at, id LIMIT ?1")
            .unwrap();
        for limit in [1, 10, 3, 10] {
            let rows: Vec<String> = statement
                .query_map([limit], |row| row.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(rows.is_empty());
        }
        assert_eq!(
            statement.get_status(rusqlite::StatementStatus::RePrepare),
            0
        );
    }

    /// Temporary files SQLite has open in this process: named `etilqs_*`, or nameless
    /// (`O_TMPFILE`, shown as `<directory>/#<inode>`).
    fn sqlite_temp_files() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| {
                let target = target.to_string_lossy();
                target.contains("etilqs_") || target.contains("/#")
            })
            .count()
    }

    #[tokio::test]
    async fn a_writes_savepoint_journal_stays_in_memory_however_large() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        let db = Connections::open(&path).unwrap();
        // About one 4 KiB page per row.
        db.write(|conn| {
            conn.execute_batch("CREATE TABLE pages (filler BLOB)")?;
            for _ in 0..1200 {
                conn.execute("INSERT INTO pages VALUES (zeroblob(3000))", [])?;
            }
            Ok(Outcome::Commit(()))
        })
        .await
        .unwrap();
        // Each changes `rows` pages, each kept as it was in the write's savepoint journal.
        let temp_files_while_changing = |rows: u32| {
            db.write(move |conn| {
                conn.execute(
                    "UPDATE pages SET filler = zeroblob(3001) WHERE rowid <= ?1",
                    [rows],
                )?;
                Ok(Outcome::Commit(sqlite_temp_files()))
            })
        };
        assert_eq!(temp_files_while_changing(12).await.unwrap(), 0, "48 KiB");
        assert_eq!(temp_files_while_changing(100).await.unwrap(), 0, "400 KiB");
        assert_eq!(temp_files_while_changing(1000).await.unwrap(), 0, "4 MiB");
        // SQLite's default moves a journal past 64 KiB to a file: the check above sees it.
        let plain = Connection::open(&path).unwrap();
        plain
            .execute_batch(
                "BEGIN IMMEDIATE; SAVEPOINT job;
                 UPDATE pages SET filler = zeroblob(3002) WHERE rowid <= 100;",
            )
            .unwrap();
        assert_eq!(sqlite_temp_files(), 1, "400 KiB on a default connection");
        plain.execute_batch("ROLLBACK").unwrap();
    }

    #[test]
    fn the_bundled_sqlite_is_built_without_memory_statistics() {
        let conn = Connection::open_in_memory().unwrap();
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
    }

    #[tokio::test]
    async fn a_request_write_runs_ahead_of_background_writes_queued_before_it() {
        let ran = run_order(&[(Priority::Background, 100), (Priority::Request, 1)]).await;
        assert_eq!(ran.len(), 101);
        assert_eq!(ran[0], Priority::Request, "ran in order {ran:?}");
    }

    #[tokio::test]
    async fn background_writes_get_a_share_of_every_group_while_requests_wait() {
        let ran = run_order(&[(Priority::Background, 20), (Priority::Request, 200)]).await;
        assert_eq!(ran.len(), 220);
        // The first group after the held one: requests' writes, then a share of background.
        let first_group = &ran[..GROUP];
        let background_in_first = first_group
            .iter()
            .filter(|p| **p == Priority::Background)
            .count();
        assert_eq!(
            background_in_first, BACKGROUND_SHARE,
            "first group {first_group:?}"
        );
        assert!(
            first_group[..GROUP - BACKGROUND_SHARE]
                .iter()
                .all(|p| *p == Priority::Request)
        );
    }

    fn reading_thread(conn: &Connection) -> Result<std::thread::ThreadId, rusqlite::Error> {
        conn.query_row("SELECT 1", [], |_| Ok(std::thread::current().id()))
    }

    #[tokio::test]
    async fn a_lookup_runs_on_the_calling_thread_while_a_reader_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let db = Connections::open(&dir.path().join("test.sqlite3")).unwrap();
        // Every reader but one in use.
        let _held: Vec<_> = db.readers[1..].iter().map(|r| r.lock().unwrap()).collect();
        for _ in 0..READERS {
            let ran_on = db.lookup(reading_thread).await.unwrap();
            assert_eq!(ran_on, std::thread::current().id());
        }
    }

    #[tokio::test]
    async fn a_lookup_waits_on_the_blocking_pool_while_every_reader_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let db = Connections::open(&dir.path().join("test.sqlite3")).unwrap();
        let held: Vec<_> = db.readers.iter().map(|r| r.lock().unwrap()).collect();
        let lookup = tokio::spawn({
            let db = db.clone();
            async move { db.lookup(reading_thread).await }
        });
        // The lookup waits for a reader off this thread: the test can go on and free them.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!lookup.is_finished());
        drop(held);
        let ran_on = lookup.await.unwrap().unwrap();
        assert_ne!(ran_on, std::thread::current().id());
    }
}
