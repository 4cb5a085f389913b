use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{DateTime, Document, doc};
use orderflow_core::ports::{EmailOutboxStore, EmailSettlement, PendingEmail, StoreError};
use orderflow_core::{OrderId, OrderStatus, StatusTransition, TraceParent};
use time::OffsetDateTime;

use super::documents::{EmailDoc, date};
use super::{MongoStore, lease_due, unavailable};

const PENDING: &str = "pending";

pub(super) fn email_id(order_id: OrderId, status: OrderStatus) -> String {
    format!("{order_id}:{}", status.as_str())
}

/// The email `transition` of order `order_id` records, due at once (`at`).
pub(super) fn pending(order_id: OrderId, transition: &StatusTransition, at: DateTime) -> Document {
    let mut document = doc! {
        "orderId": order_id.to_string(),
        "status": transition.to().as_str(),
        "state": PENDING,
        "dueAt": at,
        "attempts": 0_i64,
    };
    if let Some(parent) = transition.trace_parent() {
        document.insert("traceparent", parent.to_string());
    }
    document
}

fn pending_email(document: &EmailDoc) -> Result<PendingEmail, StoreError> {
    Ok(PendingEmail {
        order_id: OrderId::parse(&document.order_id).map_err(StoreError::Corrupt)?,
        status: OrderStatus::parse(&document.status).map_err(StoreError::Corrupt)?,
        // The document as it was before this claim counted it.
        attempts: u32::try_from(document.attempts.saturating_add(1)).unwrap_or(u32::MAX),
        // A trace context that no longer parses only loses the email's place in its trace.
        trace_parent: document
            .traceparent
            .as_deref()
            .and_then(|raw| TraceParent::parse(raw).ok()),
    })
}

#[async_trait]
impl EmailOutboxStore for MongoStore {
    async fn claim_emails(
        &self,
        limit: u32,
        lease: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<PendingEmail>, StoreError> {
        let lease_until = date(now + lease);
        let due = doc! { "state": PENDING, "dueAt": { "$lte": date(now) } };
        let won = lease_due(
            &self.emails,
            due,
            doc! { "dueAt": 1 },
            limit,
            "dueAt",
            lease_until,
            |document: &EmailDoc| &document.id,
        )
        .await?;
        won.iter().map(pending_email).collect()
    }

    async fn settle_email(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        settlement: &EmailSettlement,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (state, outcome) = match settlement {
            EmailSettlement::Sent => ("sent", None),
            EmailSettlement::Rejected(why) => ("rejected", Some(why.as_str())),
            EmailSettlement::Failed(why) => ("failed", Some(why.as_str())),
        };
        // A settled email's `dueAt` is when it was settled, for the housekeeper.
        self.emails
            .update_one(
                doc! { "_id": email_id(order_id, status), "state": PENDING },
                doc! { "$set": { "state": state, "dueAt": date(now), "outcome": outcome } },
            )
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn retry_email(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        retry_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.emails
            .update_one(
                doc! { "_id": email_id(order_id, status), "state": PENDING },
                doc! { "$set": { "dueAt": date(retry_at) } },
            )
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// MongoDB tells no one of a recorded email: the sender polls.
    async fn email_recorded(&self) {
        std::future::pending::<()>().await;
    }

    async fn email_backlog(&self) -> Result<u64, StoreError> {
        self.emails
            .count_documents(doc! { "state": PENDING })
            .await
            .map_err(unavailable)
    }
}
