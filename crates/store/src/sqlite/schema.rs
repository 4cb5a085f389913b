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
