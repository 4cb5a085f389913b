use async_trait::async_trait;
use mongodb::bson::doc;
use orderflow_core::ports::{Housekeeping, Purged, StoreError};
use time::OffsetDateTime;

use super::documents::date;
use super::{MongoStore, unavailable};

/// TTL indexes remove expired tokens and keys on the server's own schedule (about once a
/// minute); purging as well makes the outcome the same on every store.
#[async_trait]
impl Housekeeping for MongoStore {
    async fn purge(
        &self,
        now: OffsetDateTime,
        keys_before: OffsetDateTime,
        sent_before: OffsetDateTime,
    ) -> Result<Purged, StoreError> {
        let refresh_tokens = self
            .tokens
            .delete_many(doc! { "expiresAt": { "$lte": date(now) } })
            .await
            .map_err(unavailable)?
            .deleted_count;
        let idempotency_keys = self
            .idempotency
            .delete_many(doc! { "createdAt": { "$lt": date(keys_before) } })
            .await
            .map_err(unavailable)?
            .deleted_count;
        let outbox_entries = self
            .outbox
            // `availableAt` is `sentAt` once sent (see `mark_outbox_sent`): the index bounds
            // this. Entries sent before that was so hold a lease's end there, a little after
            // `sentAt`: they go a little later.
            .delete_many(doc! { "state": "sent", "availableAt": { "$lt": date(sent_before) } })
            .await
            .map_err(unavailable)?
            .deleted_count;
        let emails = self
            .emails
            // A settled email's `dueAt` is when it was settled: the index bounds this.
            .delete_many(doc! {
                "state": { "$in": ["sent", "rejected", "failed"] },
                "dueAt": { "$lt": date(sent_before) },
            })
            .await
            .map_err(unavailable)?
            .deleted_count;
        Ok(Purged {
            refresh_tokens,
            idempotency_keys,
            outbox_entries,
            emails,
        })
    }
}
