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

#[async_trait]
impl Housekeeping for SqliteStore {
    async fn purge(
        &self,
        now: OffsetDateTime,
        keys_before: OffsetDateTime,
        sent_before: OffsetDateTime,
    ) -> Result<Purged, StoreError> {
        Ok(Purged {
            refresh_tokens: self
                .delete_in_batches("refresh_tokens", "expires_at <= ?1", millis(now))
                .await?,
            idempotency_keys: self
                .delete_in_batches("idempotency_keys", "created_at < ?1", millis(keys_before))
                .await?,
            outbox_entries: self
                .delete_in_batches(
                    "outbox",
                    "state = 'sent' AND sent_at < ?1",
                    millis(sent_before),
                )
                .await?,
        })
    }
}

impl SqliteStore {
    /// Deletes the rows of `table` where `condition` holds (`?1` bound to `bound`),
    /// [`PURGE_BATCH`] per write, other writes going between; returns how many.
    async fn delete_in_batches(
        &self,
        table: &'static str,
        condition: &'static str,
        bound: i64,
    ) -> Result<u64, StoreError> {
        let statement = format!(
            "DELETE FROM {table} WHERE rowid IN
             (SELECT rowid FROM {table} WHERE {condition} LIMIT ?2)"
        );
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
