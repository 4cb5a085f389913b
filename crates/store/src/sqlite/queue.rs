//! The Queue port on the store's SQLite file: a table of messages with SQS semantics. Safe
//! for several processes on one file: every receive is one write transaction.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use orderflow_core::ports::{
    OutgoingMessage, Queue, QueueDepth, QueueError, ReceivedMessage, StoreError,
};
use rusqlite::params;
use tokio::sync::Notify;
use uuid::Uuid;

use super::SqliteStore;
use super::connections::{Connections, Outcome};
use super::rows::{corrupt, count, from_millis, millis};

/// How often a waiting receive looks for messages sent by another process.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Most messages one receive returns (as SQS).
const MAX_BATCH: u32 = 10;

#[derive(Clone)]
pub struct SqliteQueue {
    db: Connections,
    max_receives: u32,
    /// Wakes waiting receivers in this process as soon as a message is sent: one per batch
    /// of messages, not all of them, as every receive is a write through the store's one
    /// writer and the ones that find nothing only delay the others.
    sent: Arc<Notify>,
}

impl SqliteQueue {
    /// A queue in `store`'s file; a message received `max_receives` times and still not
    /// deleted moves to the dead-letter table instead of being received again. Its writes
    /// are background work (see [`SqliteStore::background`]): sending, receiving and
    /// deleting messages give way to requests' writes.
    pub fn new(store: &SqliteStore, max_receives: u32) -> Self {
        Self {
            db: store.db.background(),
            max_receives: max_receives.max(1),
            sent: Arc::new(Notify::new()),
        }
    }

    async fn receive_now(
        &self,
        max: u32,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let max_receives = self.max_receives;
        let visible_for = i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX);
        let anything_due = self
            .db
            .lookup(|conn| {
                conn.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM queue_messages WHERE visible_at <= ?1)",
                )?
                .query_row([millis(orderflow_core::now())], |row| row.get::<_, bool>(0))
            })
            .await
            .map_err(unavailable)?;
        if !anything_due {
            return Ok(Vec::new());
        }
        self.db
            .write(move |tx| {
                let now = millis(orderflow_core::now());
                // The next visible messages, read in the index's order, then each updated
                // by id: an UPDATE of `id IN (subquery)` with RETURNING built two temporary
                // tables per receive, on the one writer. Only as
                // many as are still wanted are looked at (a scan of every visible message
                // made a backlog quadratic to drain); those past the receive limit move to
                // the dead-letter table instead of being received (as SQS does), and the
                // next ones are looked at in their place.
                let mut next_visible = tx.prepare_cached(
                    "SELECT id, body, attributes, receive_count, sent_at FROM queue_messages
                     WHERE visible_at <= ?1 ORDER BY visible_at, id LIMIT ?2",
                )?;
                let mut hide = tx.prepare_cached(
                    "UPDATE queue_messages
                     SET visible_at = ?2, receive_count = ?3, receipt = ?4 WHERE id = ?1",
                )?;
                let mut received = Vec::with_capacity(max as usize);
                loop {
                    let wanted = max as usize - received.len();
                    let window = next_visible
                        .query_map(params![now, wanted as i64], |row| {
                            let attributes: String = row.get(2)?;
                            Ok(ReceivedMessage {
                                id: row.get(0)?,
                                receipt: String::new(),
                                body: row.get(1)?,
                                attributes: serde_json::from_str::<BTreeMap<String, String>>(
                                    &attributes,
                                )
                                .map_err(|e| corrupt(2, e.to_string()))?,
                                receive_count: row.get(3)?,
                                sent_at: from_millis(4, row.get(4)?)?,
                            })
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    let looked_at = window.len();
                    let mut dead_lettered = false;
                    for mut message in window {
                        if message.receive_count >= max_receives {
                            tx.prepare_cached(
                                "INSERT INTO queue_dead_letters
                                   (id, body, attributes, sent_at, receive_count, dead_lettered_at)
                                 SELECT id, body, attributes, sent_at, receive_count, ?2
                                 FROM queue_messages WHERE id = ?1",
                            )?
                            .execute(params![message.id, now])?;
                            tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")?
                                .execute([&message.id])?;
                            dead_lettered = true;
                            continue;
                        }
                        message.receipt = receipt_for(&message.id);
                        message.receive_count += 1;
                        hide.execute(params![
                            message.id,
                            now.saturating_add(visible_for),
                            message.receive_count,
                            message.receipt
                        ])?;
                        received.push(message);
                    }
                    // Every message looked at is now hidden or gone, so the next window
                    // holds new ones; it is needed only where dead letters left room.
                    if !dead_lettered || looked_at < wanted {
                        break;
                    }
                }
                received.sort_by(|a, b| (a.sent_at, &a.id).cmp(&(b.sent_at, &b.id)));
                Ok(Outcome::Commit(received))
            })
            .await
            .map_err(unavailable)
    }
}

/// A new receipt for a receive of message `id`: the id, so that the message is found by its
/// key, and a random part, so that an earlier receive's receipt no longer matches.
fn receipt_for(id: &str) -> String {
    format!("{id}{RECEIPT_SEPARATOR}{}", Uuid::new_v4().simple())
}

/// The message id a receipt names; a receipt of another form names none.
fn id_in(receipt: &str) -> &str {
    receipt
        .split_once(RECEIPT_SEPARATOR)
        .map_or("", |(id, _)| id)
}

/// Not in a message id (a UUID) nor in the random part.
const RECEIPT_SEPARATOR: char = '.';

fn unavailable(error: StoreError) -> QueueError {
    QueueError::Unavailable(error.to_string())
}

impl SqliteQueue {
    /// Deletes each message by its receipt; one whose receipt is stale (its visibility ran
    /// out and it was received again) stays.
    async fn delete_all(&self, receipts: Vec<String>) -> Vec<Result<(), QueueError>> {
        let count = receipts.len();
        let deleted = self
            .db
            .write(move |tx| {
                let mut statement =
                    tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1 AND receipt = ?2")?;
                let deleted = receipts
                    .iter()
                    .map(|receipt| statement.execute([id_in(receipt), receipt]))
                    .collect::<Result<Vec<usize>, _>>()?;
                Ok(Outcome::Commit(deleted))
            })
            .await;
        match deleted {
            Ok(deleted) => deleted
                .into_iter()
                .map(|n| {
                    if n == 0 {
                        Err(QueueError::StaleReceipt)
                    } else {
                        Ok(())
                    }
                })
                .collect(),
            Err(e) => vec![Err(unavailable(e)); count],
        }
    }

    /// Inserts every message in one transaction: all are sent or none is.
    async fn insert(&self, messages: &[OutgoingMessage]) -> Result<Vec<String>, QueueError> {
        let rows = messages
            .iter()
            .map(|message| {
                let attributes = serde_json::to_string(&message.attributes)
                    .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                Ok((Uuid::now_v7().to_string(), message.body.clone(), attributes))
            })
            .collect::<Result<Vec<_>, QueueError>>()?;
        let ids: Vec<String> = self
            .db
            .write(move |tx| {
                let now = millis(orderflow_core::now());
                let mut statement = tx.prepare_cached(
                    "INSERT INTO queue_messages (id, body, attributes, sent_at, visible_at)
                     VALUES (?1, ?2, ?3, ?4, ?4)",
                )?;
                for (id, body, attributes) in &rows {
                    statement.execute(params![id, body, attributes, now])?;
                }
                Ok(Outcome::Commit(
                    rows.into_iter().map(|(id, ..)| id).collect(),
                ))
            })
            .await
            .map_err(unavailable)?;
        self.wake_receivers(ids.len());
        Ok(ids)
    }

    /// Wakes a waiting receiver per batch of `messages` (a wake-up with nobody waiting is
    /// kept for the next receive to find).
    fn wake_receivers(&self, messages: usize) {
        for _ in 0..messages.div_ceil(MAX_BATCH as usize) {
            self.sent.notify_one();
        }
    }
}

#[async_trait]
impl Queue for SqliteQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<String, QueueError> {
        let mut ids = self.insert(std::slice::from_ref(message)).await?;
        ids.pop()
            .ok_or_else(|| QueueError::Unavailable("the message was not inserted".to_owned()))
    }

    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Vec<Result<String, QueueError>> {
        match self.insert(messages).await {
            Ok(ids) => ids.into_iter().map(Ok).collect(),
            Err(e) => messages.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let max = max.clamp(1, MAX_BATCH);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before looking, so a send while this receive looks wakes it too.
            let woken = self.sent.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let received = self.receive_now(max, visibility).await?;
            if received.len() == max as usize {
                // There may be more than this receiver took: pass the wake-up on.
                self.wake_receivers(1);
            }
            if !received.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(received);
            }
            let nap = POLL_INTERVAL.min(deadline - tokio::time::Instant::now());
            let _ = tokio::time::timeout(nap, woken).await;
        }
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        let timeout = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let changed = self
            .db
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE queue_messages SET visible_at = ?3 + ?4
                         WHERE id = ?1 AND receipt = ?2",
                    )?
                    .execute(params![
                        id_in(&receipt),
                        receipt,
                        millis(orderflow_core::now()),
                        timeout
                    ])?;
                Ok(Outcome::Commit(changed))
            })
            .await
            .map_err(unavailable)?;
        if changed == 0 {
            return Err(QueueError::StaleReceipt);
        }
        if timeout == 0 {
            self.wake_receivers(1);
        }
        Ok(())
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        let mut outcomes = self.delete_all(vec![receipt.to_owned()]).await;
        outcomes
            .pop()
            .expect("delete_all answers one outcome per receipt")
    }

    /// All in one write: a batch of deletes is one job for the one writer, not one each.
    async fn delete_batch(&self, receipts: &[String]) -> Vec<Result<(), QueueError>> {
        self.delete_all(receipts.to_vec()).await
    }

    async fn depth(&self) -> Result<QueueDepth, QueueError> {
        self.db
            .read(|conn| {
                conn.prepare_cached(
                    "SELECT (SELECT COUNT(*) FROM queue_messages WHERE visible_at <= ?1),
                            (SELECT COUNT(*) FROM queue_messages WHERE visible_at > ?1),
                            (SELECT COUNT(*) FROM queue_dead_letters)",
                )?
                .query_row([millis(orderflow_core::now())], |row| {
                    Ok(QueueDepth {
                        visible: count(row, 0)?,
                        in_flight: count(row, 1)?,
                        dead_lettered: count(row, 2)?,
                    })
                })
            })
            .await
            .map_err(unavailable)
    }

    fn max_receives(&self) -> u32 {
        self.max_receives
    }
}
