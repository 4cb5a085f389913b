use std::path::Path;

use rusqlite::Connection;

use super::SqliteStoreError;

/// Each entry moves the schema one version up; `PRAGMA user_version` records how far a file
/// has come. Append only: never edit a migration that has shipped.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    email            TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id),
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);
CREATE TABLE products (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    unit_price INTEGER NOT NULL CHECK (unit_price >= 0),
    currency   TEXT NOT NULL,
    stock      INTEGER NOT NULL CHECK (stock >= 0)
);
CREATE TABLE orders (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    status     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX orders_by_user ON orders(user_id, id DESC);
CREATE INDEX orders_by_user_status ON orders(user_id, status, id DESC);
CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL REFERENCES orders(id),
    payload      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    available_at INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    sent_at      INTEGER
);
CREATE INDEX outbox_by_state ON outbox(state, available_at);
CREATE TABLE idempotency_keys (
    user_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    order_id    TEXT NOT NULL,
    response    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
"#,
    r#"
CREATE TABLE notifications (
    order_id     TEXT NOT NULL REFERENCES orders(id),
    status       TEXT NOT NULL,
    state        TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    completed_at INTEGER,
    rejection    TEXT,
    attempts     INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (order_id, status)
);
CREATE TABLE queue_messages (
    id            TEXT PRIMARY KEY,
    body          TEXT NOT NULL,
    attributes    TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT UNIQUE
);
CREATE INDEX queue_messages_by_visibility ON queue_messages(visible_at, id);
CREATE TABLE queue_dead_letters (
    id               TEXT PRIMARY KEY,
    body             TEXT NOT NULL,
    attributes       TEXT NOT NULL,
    sent_at          INTEGER NOT NULL,
    receive_count    INTEGER NOT NULL,
    dead_lettered_at INTEGER NOT NULL
);
"#,
    r#"
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
"#,
    r#"
ALTER TABLE notifications ADD COLUMN sender TEXT;
"#,
    // The housekeeper's purges find expired rows by these instead of reading every row kept.
    r#"
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys(created_at);
"#,
    // The worker's tables keyed by their primary key alone (WITHOUT ROWID): a row is one
    // b-tree entry, not one in the table and another in its key's index. A queue message's
    // receipt names its id, so it needs no index of its own either: each message is
    // inserted, received and deleted with four fewer b-tree changes, a notification
    // inserted with one fewer.
    r#"
CREATE TABLE queue_messages_keyed (
    id            TEXT PRIMARY KEY,
    body          TEXT NOT NULL,
    attributes    TEXT NOT NULL,
    sent_at       INTEGER NOT NULL,
    visible_at    INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt       TEXT
) WITHOUT ROWID;
INSERT INTO queue_messages_keyed
SELECT id, body, attributes, sent_at, visible_at, receive_count, receipt FROM queue_messages;
DROP TABLE queue_messages;
ALTER TABLE queue_messages_keyed RENAME TO queue_messages;
CREATE INDEX queue_messages_by_visibility ON queue_messages(visible_at, id);
CREATE TABLE notifications_keyed (
    order_id     TEXT NOT NULL REFERENCES orders(id),
    status       TEXT NOT NULL,
    state        TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    completed_at INTEGER,
    rejection    TEXT,
    attempts     INTEGER NOT NULL DEFAULT 1,
    sender       TEXT,
    PRIMARY KEY (order_id, status)
) WITHOUT ROWID;
INSERT INTO notifications_keyed
SELECT order_id, status, state, started_at, completed_at, rejection, attempts, sender
FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_keyed RENAME TO notifications;
"#,
    // The email outbox: a row per (order, status) recorded with the step that made the order
    // final, handed out to senders until settled. `due_at` is when a pending email may be
    // handed out (a lease or a retry pushes it on), and when it was settled once it is.
    r#"
CREATE TABLE emails (
    order_id    TEXT NOT NULL,
    status      TEXT NOT NULL,
    state       TEXT NOT NULL,
    due_at      INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    traceparent TEXT,
    outcome     TEXT,
    PRIMARY KEY (order_id, status)
) WITHOUT ROWID;
CREATE INDEX emails_by_state ON emails(state, due_at);
INSERT INTO emails (order_id, status, state, due_at, attempts, outcome)
SELECT order_id, status,
       CASE state WHEN 'sending' THEN 'pending' ELSE state END,
       CASE state WHEN 'sending' THEN 0 ELSE COALESCE(completed_at, started_at) END,
       attempts, rejection
FROM notifications;
DROP TABLE notifications;
"#,
];

pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), SqliteStoreError> {
    let error = |source| SqliteStoreError::Migrate {
        path: path.to_owned(),
        source,
    };
    let known = MIGRATIONS.len() as i64;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(error)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(error)?;
    if found > known {
        return Err(SqliteStoreError::TooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql).map_err(error)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)
            .map_err(error)?;
        tracing::info!(version = version + 1, "SQLite schema migrated");
    }
    tx.commit().map_err(error)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The first row `sql` selects, each column as SQLite holds it.
    fn first_row(conn: &Connection, sql: &str) -> Vec<rusqlite::types::Value> {
        conn.query_row(sql, [], |row| {
            (0..row.as_ref().column_count())
                .map(|i| row.get(i))
                .collect()
        })
        .unwrap()
    }

    /// A file migrated from version 5, the last before the worker's tables were keyed by
    /// their primary key alone, and before emails had an outbox of their own.
    #[test]
    fn the_worker_tables_keep_their_rows_when_keyed_by_their_primary_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        let mut conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute_batch(
            "INSERT INTO users VALUES ('u1', 'U', 'u@example.com', 'u@example.com', 'hash', 0);
             INSERT INTO orders VALUES ('o1', 'u1', 'PROCESSED', '{}', 0, 0);
             INSERT INTO notifications
               (order_id, status, state, started_at, completed_at, rejection, attempts, sender)
             VALUES ('o1', 'PROCESSED', 'sent', 1, 2, NULL, 3, 'delivery/1');
             INSERT INTO queue_messages
               (id, body, attributes, sent_at, visible_at, receive_count, receipt)
             VALUES ('m1', '{\"orderId\":\"o1\"}', '{}', 3, 4, 1, 'old-receipt');",
        )
        .unwrap();

        migrate(&mut conn, &path).unwrap();

        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        use rusqlite::types::Value::{Integer, Null, Text};
        // The email outbox took the notification over, settled when it was sent.
        assert_eq!(
            first_row(&conn, "SELECT * FROM emails"),
            [
                Text("o1".into()),
                Text("PROCESSED".into()),
                Text("sent".into()),
                Integer(2),
                Integer(3),
                Null,
                Null,
            ]
        );
        assert_eq!(
            first_row(&conn, "SELECT * FROM queue_messages"),
            [
                Text("m1".into()),
                Text("{\"orderId\":\"o1\"}".into()),
                Text("{}".into()),
                Integer(3),
                Integer(4),
                Integer(1),
                Text("old-receipt".into()),
            ]
        );
        for table in ["queue_messages", "emails"] {
            let sql: String = conn
                .query_row(
                    "SELECT sql FROM sqlite_schema WHERE name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(sql.ends_with("WITHOUT ROWID"), "{sql}");
        }
        // The queue's one index besides its key: the receive's, by visibility.
        let queue_indexes: Vec<(String, String)> = conn
            .prepare("SELECT name, origin FROM pragma_index_list('queue_messages') ORDER BY name")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let created: Vec<&str> = queue_indexes
            .iter()
            .filter(|(_, origin)| origin != "pk")
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(
            created,
            ["queue_messages_by_visibility"],
            "{queue_indexes:?}"
        );
        let broken_references: usize = conn
            .prepare("PRAGMA foreign_key_check")
            .unwrap()
            .query_map([], |_| Ok(()))
            .unwrap()
            .count();
        assert_eq!(broken_references, 0);
    }
}
