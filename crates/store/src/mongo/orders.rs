use async_trait::async_trait;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use orderflow_core::ports::{
    IdempotencyClaim, IdempotentReplay, OrderStore, Placement, Shortage, StoreError, Transitioned,
};
use orderflow_core::{
    IdempotencyKey, Order, OrderId, OrderMessage, OrderStatus, ProductId, RequestFingerprint,
    StatusTransition, TraceParent, UserId,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::documents::{ChangeDoc, IdempotencyDoc, OrderDoc, OutboxDoc, date};
use super::{MongoStore, emails, find_all, is_duplicate_key, unavailable};

/// HTTP status of a placement's first response, kept with the key.
const CREATED: i32 = 201;

fn idempotency_id(user_id: UserId, key: &IdempotencyKey) -> String {
    format!("{user_id}:{}", key.as_str())
}

fn replay(document: &IdempotencyDoc) -> Result<IdempotentReplay, StoreError> {
    Ok(IdempotentReplay {
        fingerprint: RequestFingerprint::from_stored(document.fingerprint.clone()),
        status: u16::try_from(document.status)
            .map_err(|_| StoreError::Corrupt(format!("status {}", document.status)))?,
        order: document.response.order()?,
    })
}

/// One attempt at placing: done, or lost a race for the idempotency key to a placement
/// that committed in between (then the next attempt sees its record).
enum Attempt {
    Done(Result<Placement, StoreError>),
    KeyRace,
}

impl MongoStore {
    async fn try_place(
        &self,
        order: &Order,
        claim: Option<&IdempotencyClaim>,
        trace: Option<&TraceParent>,
    ) -> Result<Attempt, StoreError> {
        let order_doc = OrderDoc::from_order(order);
        transaction!(self, |session| {
            if let Some(claim) = claim {
                let id = idempotency_id(order.user_id, &claim.key);
                let earlier = self
                    .idempotency
                    .find_one(doc! { "_id": &id })
                    .session(&mut session)
                    .await?;
                match earlier {
                    Some(earlier) if earlier.created_at >= date(claim.expired_before) => {
                        let outcome = replay(&earlier).map(Placement::KeyAlreadyUsed);
                        return Ok(Tx::Abort(Attempt::Done(outcome)));
                    }
                    Some(_) => {
                        // Expired (the TTL monitor has not removed it yet): claim afresh.
                        self.idempotency
                            .delete_one(doc! { "_id": &id })
                            .session(&mut session)
                            .await?;
                    }
                    None => {}
                }
            }
            let mut shortages = Vec::new();
            for line in &order.lines {
                let quantity = i64::from(line.quantity.get());
                let reserved = self
                    .products
                    .update_one(
                        doc! {
                            "_id": line.product_id.as_str(),
                            "stock": { "$gte": quantity },
                            "unitPrice": line.unit_price.minor(),
                            "currency": line.unit_price.currency().as_str(),
                            "name": line.name.as_str(),
                        },
                        doc! { "$inc": { "stock": -quantity } },
                    )
                    .session(&mut session)
                    .await?;
                if reserved.matched_count == 1 {
                    continue;
                }
                let current = self
                    .products
                    .find_one(doc! { "_id": line.product_id.as_str() })
                    .session(&mut session)
                    .await?;
                match current {
                    Some(p)
                        if p.unit_price == line.unit_price.minor()
                            && p.currency == line.unit_price.currency().as_str()
                            && p.name == line.name.as_str() =>
                    {
                        shortages.push(Shortage {
                            product_id: line.product_id.clone(),
                            requested: line.quantity.get(),
                            available: u32::try_from(p.stock.max(0)).unwrap_or(u32::MAX),
                        });
                    }
                    _ => return Ok(Tx::Abort(Attempt::Done(Ok(Placement::CatalogChanged)))),
                }
            }
            if !shortages.is_empty() {
                return Ok(Tx::Abort(Attempt::Done(Ok(Placement::Insufficient(
                    shortages,
                )))));
            }
            self.orders
                .insert_one(&order_doc)
                .session(&mut session)
                .await?;
            let outbox = OutboxDoc {
                id: Uuid::now_v7().to_string(),
                order_id: order.id.to_string(),
                payload: OrderMessage { order_id: order.id }.to_body(),
                created_at: date(order.created_at),
                state: "pending".to_owned(),
                available_at: date(order.created_at),
                attempts: 0,
                sent_at: None,
                traceparent: trace.map(ToString::to_string),
            };
            self.outbox.insert_one(outbox).session(&mut session).await?;
            if let Some(claim) = claim {
                let record = IdempotencyDoc {
                    id: idempotency_id(order.user_id, &claim.key),
                    user_id: order.user_id.to_string(),
                    key: claim.key.as_str().to_owned(),
                    fingerprint: claim.fingerprint.as_str().to_owned(),
                    status: CREATED,
                    response: order_doc.clone(),
                    created_at: date(order.created_at),
                };
                match self
                    .idempotency
                    .insert_one(record)
                    .session(&mut session)
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_duplicate_key(&e) => return Ok(Tx::Abort(Attempt::KeyRace)),
                    Err(e) => return Err(e),
                }
            }
            Ok(Tx::Commit(Attempt::Done(Ok(Placement::Placed(
                order.clone(),
            )))))
        })
    }
}

#[async_trait]
impl OrderStore for MongoStore {
    async fn place_order(
        &self,
        order: &Order,
        claim: Option<&IdempotencyClaim>,
        trace: Option<&TraceParent>,
    ) -> Result<Placement, StoreError> {
        let _locked = self
            .product_locks
            .lock(order.lines.iter().map(|l| &l.product_id))
            .await;
        for _ in 0..3 {
            if let Attempt::Done(placement) = self.try_place(order, claim, trace).await? {
                return placement;
            }
        }
        Err(StoreError::Unavailable(
            "the idempotency key kept changing hands".to_owned(),
        ))
    }

    async fn idempotent_replay(
        &self,
        user_id: UserId,
        key: &IdempotencyKey,
        expired_before: OffsetDateTime,
    ) -> Result<Option<IdempotentReplay>, StoreError> {
        self.idempotency
            .find_one(doc! {
                "_id": idempotency_id(user_id, key),
                "createdAt": { "$gte": date(expired_before) },
            })
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(replay)
            .transpose()
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.orders
            .find_one(doc! { "_id": id.to_string() })
            .await
            .map_err(unavailable)?
            .map(|d| d.order())
            .transpose()
    }

    async fn list_orders(
        &self,
        user_id: UserId,
        status: Option<OrderStatus>,
        before: Option<OrderId>,
        limit: u32,
    ) -> Result<Vec<Order>, StoreError> {
        // Ids are UUIDv7, whose text sorts by creation time: newest first is id descending.
        let mut filter: Document = doc! { "userId": user_id.to_string() };
        if let Some(status) = status {
            filter.insert("status", status.as_str());
        }
        if let Some(before) = before {
            filter.insert("_id", doc! { "$lt": before.to_string() });
        }
        let documents: Vec<OrderDoc> =
            find_all(&self.orders, filter, doc! { "_id": -1 }, limit).await?;
        documents.iter().map(OrderDoc::order).collect()
    }

    async fn transition_order(
        &self,
        order: &Order,
        transition: &StatusTransition,
    ) -> Result<Transitioned, StoreError> {
        let id = order.id;
        let change = ChangeDoc::from_change(transition.change());
        // Releasing stock writes the order's products: queue behind placements of them. (An
        // order's lines never change: the caller's copy names them.)
        let products: Vec<ProductId> = if transition.to().releases_stock() {
            order.lines.iter().map(|l| l.product_id.clone()).collect()
        } else {
            Vec::new()
        };
        let _locked = self.product_locks.lock(&products).await;
        transaction!(self, |session| {
            let updated = self
                .orders
                .find_one_and_update(
                    doc! { "_id": id.to_string(), "status": transition.from().as_str() },
                    doc! {
                        "$set": { "status": transition.to().as_str(), "updatedAt": change.at },
                        "$push": { "history": mongodb::bson::to_bson(&change)? },
                    },
                )
                .return_document(ReturnDocument::After)
                .session(&mut session)
                .await?;
            let Some(updated) = updated else {
                let current = self
                    .orders
                    .find_one(doc! { "_id": id.to_string() })
                    .session(&mut session)
                    .await?;
                let current = current.map(|d| d.order()).transpose();
                return Ok(Tx::Abort(current.map(Transitioned::Conflict)));
            };
            if transition.to().is_emailed() {
                // Recorded with the step that reached its status (the email outbox).
                self.emails
                    .update_one(
                        doc! { "_id": emails::email_id(id, transition.to()) },
                        doc! { "$setOnInsert": emails::pending(id, transition, change.at) },
                    )
                    .upsert(true)
                    .session(&mut session)
                    .await?;
            }
            if transition.to().releases_stock() {
                for line in &updated.lines {
                    self.products
                        .update_one(
                            doc! { "_id": &line.product_id },
                            doc! { "$inc": { "stock": line.quantity } },
                        )
                        .session(&mut session)
                        .await?;
                }
            }
            Ok(Tx::Commit(updated.order().map(Transitioned::Applied)))
        })?
    }
}
