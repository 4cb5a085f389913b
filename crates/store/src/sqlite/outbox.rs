use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{OutboxEntry, OutboxStore, StoreError};
use orderflow_core::{OrderId, TraceParent};
use rusqlite::params;
use time::OffsetDateTime;

use super::SqliteStore;
use super::connections::Outcome;
use super::rows::{count, from_millis, millis, parsed};

fn entry(row: &rusqlite::Row<'_>) -> Result<OutboxEntry, rusqlite::Error> {
    Ok(OutboxEntry {
        id: row.get(0)?,
        order_id: parsed(row, 1, OrderId::parse)?,
        payload: row.get(2)?,
        created_at: from_millis(3, row.get(3)?)?,
        // A trace context that no longer parses only loses the link between two traces.
        trace_parent: row
            .get::<_, Option<String>>(4)?
            .and_then(|raw| TraceParent::parse(&raw).ok()),
    })
}

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn claim_outbox(
        &self,
        limit: u32,
        lease: Duration,
        now: OffsetDateTime,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let lease_until = millis(now + lease);
        let now = millis(now);
        // Relays poll; a read first keeps an idle poll from taking the write lock.
        let due = self
            .db
            .lookup(move |conn| {
                conn.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM outbox
                                    WHERE state = 'pending' AND available_at <= ?1)",
                )?
                .query_row([now], |row| row.get::<_, bool>(0))
            })
            .await?;
        if !due {
            return Ok(Vec::new());
        }
        self.db
            .write(move |tx| {
                // The due entries read first, then each leased by id: an UPDATE of
                // `id IN (subquery)` with RETURNING built temporary tables per claim.
                // `available_at` doubles as the lease: a claimed entry is not available
                // again until the lease runs out (a relay that died mid-publish).
                let mut claimed = tx
                    .prepare_cached(
                        "SELECT id, order_id, payload, created_at, traceparent FROM outbox
                         WHERE state = 'pending' AND available_at <= ?1
                         ORDER BY available_at, id LIMIT ?2",
                    )?
                    .query_map(params![now, limit], entry)?
                    .collect::<Result<Vec<_>, _>>()?;
                let mut lease = tx.prepare_cached(
                    "UPDATE outbox SET available_at = ?2, attempts = attempts + 1 WHERE id = ?1",
                )?;
                for entry in &claimed {
                    lease.execute(params![entry.id, lease_until])?;
                }
                claimed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
                Ok(Outcome::Commit(claimed))
            })
            .await
    }

    async fn mark_outbox_sent(
        &self,
        ids: &[String],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.db
            .write(move |tx| {
                // A sent entry's `available_at` becomes its `sent_at`: the housekeeper then
                // finds the old ones through the `(state, available_at)` index instead of
                // reading every sent entry kept. The row's index entry moves anyway, as
                // its state changes.
                let mut statement = tx.prepare_cached(
                    "UPDATE outbox SET state = 'sent', sent_at = ?2, available_at = ?2 WHERE id = ?1",
                )?;
                for id in &ids {
                    statement.execute(params![id, millis(now)])?;
                }
                Ok(Outcome::Commit(()))
            })
            .await
    }

    async fn retry_outbox(&self, id: &str, retry_at: OffsetDateTime) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.db
            .write(move |tx| {
                tx.prepare_cached(
                    "UPDATE outbox SET available_at = ?2 WHERE id = ?1 AND state = 'pending'",
                )?
                .execute(params![id, millis(retry_at)])?;
                Ok(Outcome::Commit(()))
            })
            .await
    }

    async fn outbox_written(&self) {
        self.outbox_written.notified().await;
    }

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        self.db
            .read(|conn| {
                conn.prepare_cached("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")?
                    .query_row([], |row| count(row, 0))
            })
            .await
    }
}
