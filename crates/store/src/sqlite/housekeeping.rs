use async_trait::async_trait;
use orderflow_core::ports::{Housekeeping, Purged, StoreError};
use rusqlite::params;
use time::OffsetDateTime;

use super::SqliteStore;
use super::connections::Outcome;
use super::rows::millis;

#[async_trait]
impl Housekeeping for SqliteStore {
    async fn purge(
        &self,
        now: OffsetDateTime,
        keys_before: OffsetDateTime,
        sent_before: OffsetDateTime,
    ) -> Result<Purged, StoreError> {
        self.db
            .write(move |tx| {
                let refresh_tokens = tx
                    .prepare_cached("DELETE FROM refresh_tokens WHERE expires_at <= ?1")?
                    .execute([millis(now)])?;
                let idempotency_keys = tx
                    .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?1")?
                    .execute([millis(keys_before)])?;
                let outbox_entries = tx
                    .prepare_cached("DELETE FROM outbox WHERE state = 'sent' AND sent_at < ?1")?
                    .execute(params![millis(sent_before)])?;
                Ok(Outcome::Commit(Purged {
                    refresh_tokens: refresh_tokens as u64,
                    idempotency_keys: idempotency_keys as u64,
                    outbox_entries: outbox_entries as u64,
                }))
            })
            .await
    }
}
