use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{EmailOutboxStore, EmailSettlement, PendingEmail, StoreError};
use orderflow_core::{Order, OrderId, OrderStatus, TraceParent};
use rusqlite::params;
use time::OffsetDateTime;

use super::SqliteStore;
use super::connections::Outcome;
use super::rows::{count, millis, parsed};

const PENDING: &str = "pending";

fn pending_email(row: &rusqlite::Row<'_>) -> Result<PendingEmail, rusqlite::Error> {
    Ok(PendingEmail {
        order_id: parsed(row, 0, OrderId::parse)?,
        status: parsed(row, 1, OrderStatus::parse)?,
        // Handed out once more by the claim that reads it.
        attempts: row.get::<_, u32>(2)?.saturating_add(1),
        // A trace context that no longer parses only loses the email's place in its trace.
        trace_parent: row
            .get::<_, Option<String>>(3)?
            .and_then(|raw| TraceParent::parse(&raw).ok()),
    })
}

/// Records the email of the status `order` just reached, inside the transaction that
/// reached it; due at once.
pub(super) fn record_in(
    tx: &rusqlite::Connection,
    order: &Order,
    trace_parent: Option<TraceParent>,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO emails (order_id, status, state, due_at, traceparent)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        order.id.to_string(),
        order.status.as_str(),
        PENDING,
        millis(order.updated_at),
        trace_parent.map(|parent| parent.to_string())
    ])?;
    Ok(())
}

#[async_trait]
impl EmailOutboxStore for SqliteStore {
    async fn claim_emails(
        &self,
        limit: u32,
        lease: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<PendingEmail>, StoreError> {
        let lease_until = millis(now + lease);
        let now = millis(now);
        // Senders poll; a read first keeps an idle poll from taking the write lock.
        let due = self
            .db
            .lookup(move |conn| {
                conn.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM emails WHERE state = ?1 AND due_at <= ?2)",
                )?
                .query_row(params![PENDING, now], |row| row.get::<_, bool>(0))
            })
            .await?;
        if !due {
            return Ok(Vec::new());
        }
        self.db
            .write(move |tx| {
                let claimed = tx
                    .prepare_cached(
                        "SELECT order_id, status, attempts, traceparent FROM emails
                         WHERE state = ?1 AND due_at <= ?2
                         ORDER BY due_at LIMIT ?3",
                    )?
                    .query_map(params![PENDING, now, limit], pending_email)?
                    .collect::<Result<Vec<_>, _>>()?;
                // `due_at` doubles as the lease: a claimed email is not due again until the
                // lease runs out (its sender died).
                let mut lease = tx.prepare_cached(
                    "UPDATE emails SET due_at = ?3, attempts = attempts + 1
                     WHERE order_id = ?1 AND status = ?2",
                )?;
                for email in &claimed {
                    lease.execute(params![
                        email.order_id.to_string(),
                        email.status.as_str(),
                        lease_until
                    ])?;
                }
                Ok(Outcome::Commit(claimed))
            })
            .await
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
            EmailSettlement::Rejected(why) => ("rejected", Some(why.clone())),
            EmailSettlement::Failed(why) => ("failed", Some(why.clone())),
        };
        self.db
            .write(move |tx| {
                // A settled email's `due_at` is when it was settled, for the housekeeper.
                tx.prepare_cached(
                    "UPDATE emails SET state = ?3, due_at = ?4, outcome = ?5
                     WHERE order_id = ?1 AND status = ?2 AND state = ?6",
                )?
                .execute(params![
                    order_id.to_string(),
                    status.as_str(),
                    state,
                    millis(now),
                    outcome,
                    PENDING
                ])?;
                Ok(Outcome::Commit(()))
            })
            .await
    }

    async fn retry_email(
        &self,
        order_id: OrderId,
        status: OrderStatus,
        retry_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.db
            .write(move |tx| {
                tx.prepare_cached(
                    "UPDATE emails SET due_at = ?3
                     WHERE order_id = ?1 AND status = ?2 AND state = ?4",
                )?
                .execute(params![
                    order_id.to_string(),
                    status.as_str(),
                    millis(retry_at),
                    PENDING
                ])?;
                Ok(Outcome::Commit(()))
            })
            .await
    }

    async fn email_backlog(&self) -> Result<u64, StoreError> {
        self.db
            .read(|conn| {
                conn.prepare_cached("SELECT COUNT(*) FROM emails WHERE state = ?1")?
                    .query_row([PENDING], |row| count(row, 0))
            })
            .await
    }

    async fn email_recorded(&self) {
        self.email_recorded.notified().await;
    }
}
