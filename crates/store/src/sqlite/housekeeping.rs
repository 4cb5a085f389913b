use async_trait::async_trait;
use orderflow_core::ports::{Housekeeping, Purged, StoreError};
use rusqlite::params;
use time::OffsetDateTime;

use super::SqliteStore;
use super::connections::Outcome;
use super::rows::millis;

/// Rows one write of a purge deletes. A purge can meet a week of published outbox entries
/// at once; in one write, the savepoint would keep every page it changes in memory (the
/// statement journal) and hold the one writer for as long as it took.
const PURGE_BATCH: u32 = 1_000;

/// What a purge deletes: a table, its rows' key, and the condition on its rows, `?1` the
/// bound. Each condition is one an index answers, so a purge reads the rows it deletes and
/// not every row kept.
type Purge = (&'static str, &'static str, &'static str);
const EXPIRED_TOKENS: Purge = ("refresh_tokens", "rowid", "expires_at <= ?1");
const OLD_KEYS: Purge = ("idempotency_keys", "rowid", "created_at < ?1");
/// `available_at` is `sent_at` once sent (see `mark_outbox_sent`). Entries sent before that
/// was so hold a lease's end there, a little after `sent_at`: they go a little later.
const OLD_SENT_ENTRIES: Purge = ("outbox", "rowid", "state = 'sent' AND available_at < ?1");
/// A settled email's `due_at` is when it was settled.
const OLD_SETTLED_EMAILS: Purge = (
    "emails",
    "order_id, status",
    "state IN ('sent', 'rejected', 'failed') AND due_at < ?1",
);

/// One batch of a purge: `?1` the bound, `?2` the batch's size.
fn purge_statement((table, key, condition): Purge) -> String {
    format!(
        "DELETE FROM {table} WHERE ({key}) IN
         (SELECT {key} FROM {table} WHERE {condition} LIMIT ?2)"
    )
}

#[async_trait]
impl Housekeeping for SqliteStore {
    async fn purge(
        &self,
        now: OffsetDateTime,
        keys_before: OffsetDateTime,
        sent_before: OffsetDateTime,
    ) -> Result<Purged, StoreError> {
        Ok(Purged {
            refresh_tokens: self.delete_in_batches(EXPIRED_TOKENS, millis(now)).await?,
            idempotency_keys: self
                .delete_in_batches(OLD_KEYS, millis(keys_before))
                .await?,
            outbox_entries: self
                .delete_in_batches(OLD_SENT_ENTRIES, millis(sent_before))
                .await?,
            emails: self
                .delete_in_batches(OLD_SETTLED_EMAILS, millis(sent_before))
                .await?,
        })
    }
}

impl SqliteStore {
    /// Deletes the rows `purge` names, [`PURGE_BATCH`] per write, other writes going
    /// between; returns how many.
    async fn delete_in_batches(&self, purge: Purge, bound: i64) -> Result<u64, StoreError> {
        let statement = purge_statement(purge);
        let mut deleted = 0;
        loop {
            let statement = statement.clone();
            let batch = self
                .db
                .write(move |tx| {
                    let batch = tx
                        .prepare_cached(&statement)?
                        .execute(params![bound, PURGE_BATCH])?;
                    Ok(Outcome::Commit(batch))
                })
                .await?;
            deleted += batch as u64;
            if batch < PURGE_BATCH as usize {
                return Ok(deleted);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    #[test]
    fn every_purge_searches_an_index_instead_of_scanning_its_table() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let conn = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).unwrap();
        for purge in [
            EXPIRED_TOKENS,
            OLD_KEYS,
            OLD_SENT_ENTRIES,
            OLD_SETTLED_EMAILS,
        ] {
            let plan: Vec<String> = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {}", purge_statement(purge)))
                .unwrap()
                .query_map(params![0, PURGE_BATCH], |row| row.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let table = purge.0;
            // The index bounds the range (`column<?`), not only the state.
            let searched = |step: &String| {
                step.starts_with(&format!("SEARCH {table} USING "))
                    && step.contains("INDEX")
                    && step.contains("<?")
            };
            assert!(plan.iter().any(searched), "{purge:?}: {plan:?}");
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN")),
                "{purge:?}: {plan:?}"
            );
        }
    }
}
