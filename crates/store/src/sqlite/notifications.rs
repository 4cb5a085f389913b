use async_trait::async_trait;
use orderflow_core::ports::{EmailClaim, NotificationState, NotificationStore, StoreError};
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
        claim: &EmailClaim,
    ) -> Result<NotificationState, StoreError> {
        let claim = claim.clone();
        self.db
            .write(move |tx| {
                // A claim that finds the email sent or held wrote nothing: either way the
                // savepoint can be released.
                claim_in(tx, order_id, status, &claim).map(Outcome::Commit)
            })
            .await
    }

    async fn release_notification(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        sender: &str,
    ) -> Result<(), StoreError> {
        let sender = sender.to_owned();
        self.db
            .write(move |tx| {
                // Begun at the epoch: whatever the lease, it is over.
                tx.prepare_cached(
                    "UPDATE notifications SET started_at = 0
                     WHERE order_id = ?1 AND status = ?2 AND state = ?3 AND sender = ?4",
                )?
                .execute(params![
                    order_id.to_string(),
                    status.as_str(),
                    SENDING,
                    sender
                ])?;
                Ok(Outcome::Commit(()))
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
            .lookup(move |conn| {
                conn.prepare_cached(
                    "SELECT COUNT(*) FROM notifications WHERE order_id = ?1 AND state != ?2",
                )?
                .query_row(params![order_id.to_string(), SENDING], |row| row.get(0))
            })
            .await
    }
}

/// The claim of [`NotificationStore::begin_notification`] inside the caller's transaction.
pub(super) fn claim_in(
    tx: &rusqlite::Connection,
    order_id: OrderId,
    status: OrderStatus,
    claim: &EmailClaim,
) -> Result<NotificationState, rusqlite::Error> {
    let lease = i64::try_from(claim.lease.as_millis()).unwrap_or(i64::MAX);
    let key = params![order_id.to_string(), status.as_str()];
    let state: Option<(String, i64)> = tx
        .prepare_cached(
            "SELECT state, started_at FROM notifications
             WHERE order_id = ?1 AND status = ?2",
        )?
        .query_row(key, |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match state {
        Some((state, _)) if state == SENT || state == REJECTED => {
            Ok(NotificationState::AlreadySent)
        }
        Some((_, started_at)) if started_at.saturating_add(lease) > millis(claim.now) => {
            Ok(NotificationState::InProgress)
        }
        Some(_) => {
            // Left in sending by a crashed sender, or released by one whose send failed:
            // take it over.
            tx.prepare_cached(
                "UPDATE notifications
                 SET attempts = attempts + 1, started_at = ?3, sender = ?4
                 WHERE order_id = ?1 AND status = ?2",
            )?
            .execute(params![
                order_id.to_string(),
                status.as_str(),
                millis(claim.now),
                claim.sender
            ])?;
            Ok(NotificationState::Send)
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
                millis(claim.now),
                claim.sender
            ])?;
            Ok(NotificationState::Send)
        }
    }
}
