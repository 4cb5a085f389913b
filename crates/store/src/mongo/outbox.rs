use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::doc;
use orderflow_core::ports::{OutboxEntry, OutboxStore, StoreError};
use orderflow_core::{OrderId, TraceParent};
use time::OffsetDateTime;

use super::documents::{OutboxDoc, date, time_of};
use super::{MongoStore, lease_due, unavailable};

fn entry(document: &OutboxDoc) -> Result<OutboxEntry, StoreError> {
    Ok(OutboxEntry {
        id: document.id.clone(),
        order_id: OrderId::parse(&document.order_id).map_err(StoreError::Corrupt)?,
        payload: document.payload.clone(),
        created_at: time_of(document.created_at)?,
        // A trace context that no longer parses only loses the link between two traces.
        trace_parent: document
            .traceparent
            .as_deref()
            .and_then(|raw| TraceParent::parse(raw).ok()),
    })
}

#[async_trait]
impl OutboxStore for MongoStore {
    async fn claim_outbox(
        &self,
        limit: u32,
        lease: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let lease_until = date(now + lease);
        let now = date(now);
        let due = doc! { "state": "pending", "availableAt": { "$lte": now } };
        let won = lease_due(
            &self.outbox,
            due,
            doc! { "availableAt": 1, "_id": 1 },
            limit,
            "availableAt",
            lease_until,
            |document: &OutboxDoc| &document.id,
        )
        .await?;
        let mut claimed = won.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(claimed)
    }

    async fn mark_outbox_sent(
        &self,
        ids: &[String],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // A sent entry's `availableAt` becomes its `sentAt`, so the housekeeper finds the
        // old ones through the `(state, availableAt)` index instead of examining every sent
        // entry kept.
        self.outbox
            .update_many(
                doc! { "_id": { "$in": ids } },
                doc! { "$set": { "state": "sent", "sentAt": date(now), "availableAt": date(now) } },
            )
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// MongoDB tells no one of a placement: the relay polls.
    async fn outbox_written(&self) {
        std::future::pending::<()>().await;
    }

    async fn retry_outbox(&self, id: &str, retry_at: OffsetDateTime) -> Result<(), StoreError> {
        self.outbox
            .update_one(
                doc! { "_id": id, "state": "pending" },
                doc! { "$set": { "availableAt": date(retry_at) } },
            )
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        self.outbox
            .count_documents(doc! { "state": "pending" })
            .await
            .map_err(unavailable)
    }
}
