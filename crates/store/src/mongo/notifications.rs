use async_trait::async_trait;
use mongodb::bson::doc;
use orderflow_core::ports::{EmailClaim, NotificationState, NotificationStore, StoreError};
use orderflow_core::{OrderId, OrderStatus};
use time::OffsetDateTime;

use super::documents::{NotificationDoc, date};
use super::{MongoStore, is_duplicate_key, unavailable};

const SENDING: &str = "sending";
const SENT: &str = "sent";
const REJECTED: &str = "rejected";

fn notification_id(order_id: OrderId, status: OrderStatus) -> String {
    format!("{order_id}:{}", status.as_str())
}

#[async_trait]
impl NotificationStore for MongoStore {
    async fn begin_notification(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        claim: &EmailClaim,
    ) -> Result<NotificationState, StoreError> {
        let (sender, lease, now) = (claim.sender.as_str(), claim.lease, claim.now);
        let id = notification_id(order_id, status);
        let fresh = NotificationDoc {
            id: id.clone(),
            order_id: order_id.to_string(),
            status: status.as_str().to_owned(),
            state: SENDING.to_owned(),
            started_at: date(now),
            completed_at: None,
            rejection: None,
            attempts: 1,
            sender: Some(sender.to_owned()),
        };
        match self.notifications.insert_one(fresh).await {
            Ok(_) => return Ok(NotificationState::Send),
            Err(e) if is_duplicate_key(&e) => {}
            Err(e) => return Err(unavailable(e)),
        }
        // Already begun: take it over if its sender's lease has run out (or was released),
        // by compare-and-set on the start time we saw.
        let Some(existing) = self
            .notifications
            .find_one(doc! { "_id": &id })
            .await
            .map_err(unavailable)?
        else {
            return Ok(NotificationState::InProgress);
        };
        if existing.state == SENT || existing.state == REJECTED {
            return Ok(NotificationState::AlreadySent);
        }
        let lease_ends = existing
            .started_at
            .timestamp_millis()
            .saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        if date(now).timestamp_millis() < lease_ends {
            return Ok(NotificationState::InProgress);
        }
        let taken = self
            .notifications
            .update_one(
                doc! { "_id": &id, "state": SENDING, "startedAt": existing.started_at },
                doc! {
                    "$set": { "startedAt": date(now), "sender": sender },
                    "$inc": { "attempts": 1 },
                },
            )
            .await
            .map_err(unavailable)?;
        Ok(if taken.modified_count == 1 {
            NotificationState::Send
        } else {
            NotificationState::InProgress
        })
    }

    async fn release_notification(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        sender: &str,
    ) -> Result<(), StoreError> {
        // Begun at the epoch: whatever the lease, it is over.
        self.notifications
            .update_one(
                doc! {
                    "_id": notification_id(order_id, status),
                    "state": SENDING,
                    "sender": sender,
                },
                doc! { "$set": { "startedAt": date(OffsetDateTime::UNIX_EPOCH) } },
            )
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn complete_notification(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        rejected: Option<String>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let state = if rejected.is_some() { REJECTED } else { SENT };
        self.notifications
            .update_one(
                doc! { "_id": notification_id(order_id, status) },
                doc! { "$set": { "state": state, "completedAt": date(now), "rejection": rejected } },
            )
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn notifications_completed(&self, order_id: OrderId) -> Result<u32, StoreError> {
        let count = self
            .notifications
            .count_documents(doc! { "orderId": order_id.to_string(), "state": { "$ne": SENDING } })
            .await
            .map_err(unavailable)?;
        u32::try_from(count).map_err(|_| StoreError::Corrupt(format!("{count} notifications")))
    }
}
