use async_trait::async_trait;
use orderflow_core::ports::{
    IdempotencyClaim, IdempotentReplay, OrderStore, Placement, Shortage, StoreError, Transitioned,
};
use orderflow_core::{
    IdempotencyKey, Order, OrderId, OrderMessage, OrderStatus, RequestFingerprint,
    StatusTransition, TraceParent, UserId,
};
use rusqlite::{OptionalExtension, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::SqliteStore;
use super::connections::{Outcome, into_store_error};
use super::rows::{millis, order_from_json, order_json};

/// HTTP status of a placement's first response, kept with the key.
const CREATED: u16 = 201;

#[async_trait]
impl OrderStore for SqliteStore {
    async fn place_order(
        &self,
        order: &Order,
        claim: Option<&IdempotencyClaim>,
        trace: Option<&TraceParent>,
    ) -> Result<Placement, StoreError> {
        let order = order.clone();
        let claim = claim.cloned();
        let trace_parent = trace.map(ToString::to_string);
        // Encoded here, so the one writer thread, which every write waits for, only writes.
        let rows = PlacementRows {
            order_id: order.id.to_string(),
            user_id: order.user_id.to_string(),
            body: order_json(&order).map_err(into_store_error)?,
            outbox_id: Uuid::now_v7().to_string(),
            payload: OrderMessage { order_id: order.id }.to_body(),
        };
        let placement = self
            .db
            .write(move |tx| {
                if let Some(claim) = &claim
                    && let Some(earlier) = live_claim(tx, &rows.user_id, claim)?
                {
                    return Ok(Outcome::Rollback(Placement::KeyAlreadyUsed(earlier)));
                }
                let mut shortages = Vec::new();
                for line in &order.lines {
                    let reserved = tx
                        .prepare_cached(
                            "UPDATE products SET stock = stock - ?2
                         WHERE id = ?1 AND stock >= ?2 AND unit_price = ?3 AND currency = ?4
                           AND name = ?5",
                        )?
                        .execute(params![
                            line.product_id.as_str(),
                            line.quantity.get(),
                            line.unit_price.minor(),
                            line.unit_price.currency().as_str(),
                            line.name.as_str()
                        ])?;
                    if reserved == 1 {
                        continue;
                    }
                    let current: Option<(u32, i64, String, String)> = tx
                        .prepare_cached(
                            "SELECT stock, unit_price, currency, name FROM products WHERE id = ?1",
                        )?
                        .query_row([line.product_id.as_str()], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                        })
                        .optional()?;
                    match current {
                        Some((available, price, currency, name))
                            if price == line.unit_price.minor()
                                && currency == line.unit_price.currency().as_str()
                                && name == line.name.as_str() =>
                        {
                            shortages.push(Shortage {
                                product_id: line.product_id.clone(),
                                requested: line.quantity.get(),
                                available,
                            });
                        }
                        _ => return Ok(Outcome::Rollback(Placement::CatalogChanged)),
                    }
                }
                if !shortages.is_empty() {
                    return Ok(Outcome::Rollback(Placement::Insufficient(shortages)));
                }
                tx.prepare_cached(
                    "INSERT INTO orders (id, user_id, status, body, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    rows.order_id,
                    rows.user_id,
                    order.status.as_str(),
                    rows.body,
                    millis(order.created_at),
                    millis(order.updated_at)
                ])?;
                tx.prepare_cached(
                    "INSERT INTO outbox
                       (id, order_id, payload, created_at, available_at, traceparent)
                     VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                )?
                .execute(params![
                    rows.outbox_id,
                    rows.order_id,
                    rows.payload,
                    millis(order.created_at),
                    trace_parent
                ])?;
                if let Some(claim) = &claim {
                    tx.prepare_cached(
                        "INSERT INTO idempotency_keys
                           (user_id, key, fingerprint, status, order_id, response, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        rows.user_id,
                        claim.key.as_str(),
                        claim.fingerprint.as_str(),
                        CREATED,
                        rows.order_id,
                        rows.body,
                        millis(order.created_at)
                    ])?;
                }
                Ok(Outcome::Commit(Placement::Placed(order)))
            })
            .await;
        if let Ok(Placement::Placed(_)) = &placement {
            self.outbox_written.notify_one();
        }
        placement
    }

    async fn idempotent_replay(
        &self,
        user_id: UserId,
        key: &IdempotencyKey,
        expired_before: OffsetDateTime,
    ) -> Result<Option<IdempotentReplay>, StoreError> {
        let key = key.as_str().to_owned();
        self.db
            .lookup(move |conn| {
                conn.prepare_cached(
                    "SELECT fingerprint, status, response FROM idempotency_keys
                     WHERE user_id = ?1 AND key = ?2 AND created_at >= ?3",
                )?
                .query_row(
                    params![user_id.to_string(), key, millis(expired_before)],
                    replay_row,
                )
                .optional()
            })
            .await
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.db.lookup(move |conn| stored_order(conn, id)).await
    }

    async fn list_orders(
        &self,
        user_id: UserId,
        status: Option<OrderStatus>,
        before: Option<OrderId>,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError> {
        // Ids are UUIDv7, whose text sorts by creation time: newest first is id descending.
        let before = before.map_or_else(|| "~".to_owned(), |id| id.to_string());
        let user_id = user_id.to_string();
        // One statement per shape, each walking its own index, so a page costs its rows
        // alone: `?3 IS NULL OR status = ?3` would walk all of the user's orders for a
        // status they seldom have.
        self.db
            .lookup(move |conn| {
                let body = |row: &rusqlite::Row<'_>| order_from_json(0, &row.get::<_, String>(0)?);
                match status {
                    Some(status) => conn
                        .prepare_cached(
                            "SELECT body FROM orders INDEXED BY orders_by_user_status
                             WHERE user_id = ?1 AND status = ?2 AND id < ?3
                             ORDER BY id DESC LIMIT ?4",
                        )?
                        .query_map(params![user_id, status.as_str(), before, limit], body)?
                        .collect(),
                    None => conn
                        .prepare_cached(
                            "SELECT body FROM orders INDEXED BY orders_by_user
                             WHERE user_id = ?1 AND id < ?2
                             ORDER BY id DESC LIMIT ?3",
                        )?
                        .query_map(params![user_id, before, limit], body)?
                        .collect(),
                }
            })
            .await
    }

    async fn transition_order(
        &self,
        order: &Order,
        transition: &StatusTransition,
    ) -> Result<Transitioned, StoreError> {
        let step = Step::prepare(order, transition).map_err(into_store_error)?;
        let transitioned = self.db.write(move |tx| step.write(tx)).await?;
        if matches!(&transitioned, Transitioned::Applied(order) if order.status.is_emailed()) {
            self.email_recorded.notify_one();
        }
        Ok(transitioned)
    }
}

/// A placement's values as they are written, encoded before the write.
struct PlacementRows {
    order_id: String,
    user_id: String,
    body: String,
    outbox_id: String,
    payload: String,
}

/// The compare-and-set of [`OrderStore::transition_order`], made ready before it reaches the
/// one writer thread: the caller's copy of the order is changed and encoded there, so the
/// writer, which every write waits for, neither reads the order nor parses or encodes its
/// body.
pub(super) enum Step {
    /// The copy, in the transition's `from` status, as it becomes and its body: written if
    /// the stored order is still in that status, which makes it the same order.
    Changed {
        order: Order,
        body: String,
        from: OrderStatus,
        trace_parent: Option<TraceParent>,
    },
    /// The copy is in another status: the stored order decides.
    FromStored {
        id: OrderId,
        transition: StatusTransition,
    },
}

impl Step {
    pub(super) fn prepare(
        order: &Order,
        transition: &StatusTransition,
    ) -> Result<Self, rusqlite::Error> {
        let mut changed = order.clone();
        if changed.apply(transition).is_err() {
            return Ok(Self::FromStored {
                id: order.id,
                transition: transition.clone(),
            });
        }
        Ok(Self::Changed {
            body: order_json(&changed)?,
            order: changed,
            from: transition.from(),
            trace_parent: transition.trace_parent(),
        })
    }

    /// The step inside the caller's transaction.
    pub(super) fn write(
        self,
        tx: &rusqlite::Connection,
    ) -> Result<Outcome<Transitioned>, rusqlite::Error> {
        match self {
            Self::Changed {
                order,
                body,
                from,
                trace_parent,
            } => {
                if change_status(tx, &order, &body, from)? {
                    if order.status.is_emailed() {
                        super::emails::record_in(tx, &order, trace_parent)?;
                    }
                    Ok(Outcome::Commit(Transitioned::Applied(order)))
                } else {
                    // Moved on meanwhile: the caller goes on from the order as stored.
                    let stored = stored_order(tx, order.id)?;
                    Ok(Outcome::Rollback(Transitioned::Conflict(stored)))
                }
            }
            Self::FromStored { id, transition } => {
                let Some(stored) = stored_order(tx, id)? else {
                    return Ok(Outcome::Rollback(Transitioned::Conflict(None)));
                };
                // The stored order, in this transaction, stands in for the caller's copy.
                match Self::prepare(&stored, &transition)? {
                    changed @ Self::Changed { .. } => changed.write(tx),
                    Self::FromStored { .. } => {
                        Ok(Outcome::Rollback(Transitioned::Conflict(Some(stored))))
                    }
                }
            }
        }
    }
}

/// Stores `order` (changed to its new status, encoded as `body`) if the stored order is
/// still in the `from` status, releasing its stock when the new status does; whether it did.
fn change_status(
    tx: &rusqlite::Connection,
    order: &Order,
    body: &str,
    from: OrderStatus,
) -> Result<bool, rusqlite::Error> {
    let changed = tx
        .prepare_cached(
            "UPDATE orders SET status = ?2, body = ?3, updated_at = ?4
             WHERE id = ?1 AND status = ?5",
        )?
        .execute(params![
            order.id.to_string(),
            order.status.as_str(),
            body,
            millis(order.updated_at),
            from.as_str()
        ])?;
    if changed == 1 && order.status.releases_stock() {
        release_stock(tx, order)?;
    }
    Ok(changed == 1)
}

fn stored_order(
    conn: &rusqlite::Connection,
    id: OrderId,
) -> Result<Option<Order>, rusqlite::Error> {
    conn.prepare_cached("SELECT body FROM orders WHERE id = ?1")?
        .query_row([id.to_string()], |row| {
            order_from_json(0, &row.get::<_, String>(0)?)
        })
        .optional()
}

/// The stored response for the claim's key if it has not expired; an expired one is removed
/// so the key can be claimed afresh.
fn live_claim(
    tx: &rusqlite::Connection,
    user_id: &str,
    claim: &IdempotencyClaim,
) -> Result<Option<IdempotentReplay>, rusqlite::Error> {
    tx.prepare_cached(
        "DELETE FROM idempotency_keys WHERE user_id = ?1 AND key = ?2 AND created_at < ?3",
    )?
    .execute(params![
        user_id,
        claim.key.as_str(),
        millis(claim.expired_before)
    ])?;
    tx.prepare_cached(
        "SELECT fingerprint, status, response FROM idempotency_keys
         WHERE user_id = ?1 AND key = ?2",
    )?
    .query_row(params![user_id, claim.key.as_str()], replay_row)
    .optional()
}

fn replay_row(row: &rusqlite::Row<'_>) -> Result<IdempotentReplay, rusqlite::Error> {
    Ok(IdempotentReplay {
        fingerprint: RequestFingerprint::from_stored(row.get(0)?),
        status: row.get(1)?,
        order: order_from_json(2, &row.get::<_, String>(2)?)?,
    })
}

fn release_stock(tx: &rusqlite::Connection, order: &Order) -> Result<(), rusqlite::Error> {
    for line in &order.lines {
        tx.prepare_cached("UPDATE products SET stock = stock + ?2 WHERE id = ?1")?
            .execute(params![line.product_id.as_str(), line.quantity.get()])?;
    }
    Ok(())
}
