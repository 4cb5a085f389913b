//! What the worker's integration tests share.
use std::path::PathBuf;
use std::time::Duration;

use orderflow_telemetry::{Metrics, exposition};

/// Another connection takes the SQLite database's write lock, as another process writing
/// would, and holds it for `hold` on a thread of its own; returns once the lock is taken.
// Each test binary compiles this module, and not all of them use this.
#[allow(dead_code)]
pub fn hold_the_write_lock(database: PathBuf, hold: Duration) {
    let (taken, lock_taken) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(database).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        taken.send(()).unwrap();
        std::thread::sleep(hold);
        conn.execute_batch("ROLLBACK").unwrap();
    });
    lock_taken.recv().unwrap();
}

/// The value of a series (its name, with its labels if it has any) in the worker's metrics.
pub fn sample(metrics: &Metrics, series: &str) -> f64 {
    let (_, text) = exposition(metrics.registry());
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} is not exported"))
        .parse()
        .expect("a sample's value is a number")
}
