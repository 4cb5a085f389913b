use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{NotificationState, NotificationStore, StoreError};
use orderflow_core::{OrderId, OrderStatus};
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;

use super::SqliteStore;
use super::connections::Outcome;
use super::rows::millis;

const SENDING: &str = "sending";
const SENT: &str = "sent";
const REJECTED: &str = "rejected";

#[async_trait]
impl NotificationStore for SqliteStore {
    async fn begin_notification(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        sender: &str,
        lease: Duration,
        now: OffsetDateTime,
    ) -> Result<NotificationState, StoreError> {
        let lease = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let sender = sender.to_owned();
        self.db
            .write(move |tx| {
                let key = params![order_id.to_string(), status.as_str()];
                let state: Option<(String, i64, Option<String>)> = tx
                    .prepare_cached(
                        "SELECT state, started_at, sender FROM notifications
                         WHERE order_id = ?1 AND status = ?2",
                    )?
                    .query_row(key, |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
                    .optional()?;
                match state {
                    Some((state, _, _)) if state == SENT || state == REJECTED => {
                        Ok(Outcome::Rollback(NotificationState::AlreadySent))
                    }
                    Some((_, started_at, holder))
                        if holder.as_deref() != Some(sender.as_str())
                            && started_at.saturating_add(lease) > millis(now) =>
                    {
                        Ok(Outcome::Rollback(NotificationState::InProgress))
                    }
                    Some(_) => {
                        // Left in sending by a crashed sender, or by this sender's own
                        // earlier delivery: take it over.
                        tx.prepare_cached(
                            "UPDATE notifications
                             SET attempts = attempts + 1, started_at = ?3, sender = ?4
                             WHERE order_id = ?1 AND status = ?2",
                        )?
                        .execute(params![
                            order_id.to_string(),
                            status.as_str(),
                            millis(now),
                            sender
                        ])?;
                        Ok(Outcome::Commit(NotificationState::Send))
                    }
                    None => {
                        tx.prepare_cached(
                            "INSERT INTO notifications (order_id, status, state, started_at, sender)
                             VALUES (?1, ?2, ?3, ?4, ?5)",
                        )?
                        .execute(params![
                            order_id.to_string(),
                            status.as_str(),
                            SENDING,
                            millis(now),
                            sender
                        ])?;
                        Ok(Outcome::Commit(NotificationState::Send))
                    }
                }
            })
            .await
    }

    async fn complete_notification(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        rejected: Option<String>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let state = if rejected.is_some() { REJECTED } else { SENT };
        self.db
            .write(move |tx| {
                tx.prepare_cached(
                    "UPDATE notifications SET state = ?3, completed_at = ?4, rejection = ?5
                     WHERE order_id = ?1 AND status = ?2",
                )?
                .execute(params![
                    order_id.to_string(),
                    status.as_str(),
                    state,
                    millis(now),
                    rejected
                ])?;
                Ok(Outcome::Commit(()))
            })
            .await
    }

    async fn notifications_completed(&self, order_id: OrderId) -> Result<u32, StoreError> {
        self.db
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT COUNT(*) FROM notifications WHERE order_id = ?1 AND state != ?2",
                )?
                .query_row(params![order_id.to_string(), SENDING], |row| row.get(0))
            })
            .await
    }
}
