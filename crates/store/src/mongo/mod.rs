//! The Store port on MongoDB (official driver). Placing an order, rotating a refresh token
//! and changing a status with its stock release are multi-document transactions, so the
//! server must be a replica set (Atlas always is; a one-node replica set works locally).
#[macro_use]
mod transaction;
mod documents;
mod emails;
mod housekeeping;
mod inventory;
mod orders;
mod outbox;
mod stripes;
mod tokens;
mod users;

use std::time::Duration;

use async_trait::async_trait;
use mongodb::bson::{Document, doc};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use orderflow_core::ports::{Store, StoreError};

use documents::{
    EmailDoc, IdempotencyDoc, OrderDoc, OutboxDoc, ProductDoc, RefreshTokenDoc, UserDoc,
};

/// How long the driver looks for a usable server before an operation fails: short, so a
/// request during an outage is answered 503 within seconds (a retried operation may wait
/// twice) instead of holding its client.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum MongoStoreError {
    #[error("MONGO_URI is not a valid MongoDB connection string: {0}")]
    MalformedUri(String),
    #[error("cannot reach MongoDB at {hosts}: {reason}")]
    Unreachable { hosts: String, reason: String },
    #[error(
        "MongoDB at {hosts} is a standalone server, but orderflow needs transactions, which need a replica set. \
         Atlas clusters are replica sets; for a local server start mongod with --replSet rs0 and run \
         `mongosh --eval 'rs.initiate()'` once (a one-node replica set is enough)"
    )]
    NoTransactions { hosts: String },
    #[error("cannot create the MongoDB indexes: {0}")]
    Indexes(String),
}

#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    users: Collection<UserDoc>,
    tokens: Collection<RefreshTokenDoc>,
    products: Collection<ProductDoc>,
    orders: Collection<OrderDoc>,
    outbox: Collection<OutboxDoc>,
    idempotency: Collection<IdempotencyDoc>,
    emails: Collection<EmailDoc>,
    database: Database,
    product_locks: stripes::ProductLocks,
}

impl MongoStore {
    pub const DEFAULT_DATABASE: &'static str = "orderflow";

    /// Connects to `uri` (database from its path, default `orderflow`), checks that the server
    /// can run transactions, and creates the collections' indexes (idempotently).
    pub async fn connect(uri: &str) -> Result<Self, MongoStoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| MongoStoreError::MalformedUri(short(&e)))?;
        options.app_name = Some("orderflow".to_owned());
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        let hosts = options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let database_name = options
            .default_database
            .clone()
            .unwrap_or_else(|| Self::DEFAULT_DATABASE.to_owned());
        let client =
            Client::with_options(options).map_err(|e| MongoStoreError::MalformedUri(short(&e)))?;
        let database = client.database(&database_name);
        let hello = database
            .run_command(doc! { "hello": 1 })
            .await
            .map_err(|e| MongoStoreError::Unreachable {
                hosts: hosts.clone(),
                reason: short(&e),
            })?;
        let replica_set = hello.get_str("setName").is_ok();
        let router = hello.get_str("msg").is_ok_and(|m| m == "isdbgrid");
        if !replica_set && !router {
            return Err(MongoStoreError::NoTransactions { hosts });
        }
        let store = Self {
            users: database.collection("users"),
            tokens: database.collection("refreshTokens"),
            products: database.collection("products"),
            orders: database.collection("orders"),
            outbox: database.collection("outbox"),
            idempotency: database.collection("idempotencyKeys"),
            emails: database.collection("emails"),
            database,
            client,
            product_locks: stripes::ProductLocks::new(),
        };
        store.create_indexes().await?;
        Ok(store)
    }

    pub fn database_name(&self) -> &str {
        self.database.name()
    }

    async fn create_indexes(&self) -> Result<(), MongoStoreError> {
        let unique = || IndexOptions::builder().unique(true).build();
        let ttl = |seconds: u64| {
            IndexOptions::builder()
                .expire_after(Duration::from_secs(seconds))
                .build()
        };
        let index = |keys: Document, options: Option<IndexOptions>| {
            IndexModel::builder().keys(keys).options(options).build()
        };
        let result = async {
            self.users
                .create_index(index(doc! { "emailNormalized": 1 }, Some(unique())))
                .await?;
            self.tokens
                .create_index(index(doc! { "familyId": 1 }, None))
                .await?;
            // Expired refresh tokens disappear on their own.
            self.tokens
                .create_index(index(doc! { "expiresAt": 1 }, Some(ttl(0))))
                .await?;
            self.orders
                .create_index(index(doc! { "userId": 1, "_id": -1 }, None))
                .await?;
            self.orders
                .create_index(index(doc! { "userId": 1, "status": 1, "_id": -1 }, None))
                .await?;
            self.outbox
                .create_index(index(doc! { "state": 1, "availableAt": 1 }, None))
                .await?;
            self.emails
                .create_index(index(doc! { "state": 1, "dueAt": 1 }, None))
                .await?;
            // Idempotency keys live 24 hours.
            self.idempotency
                .create_index(index(doc! { "createdAt": 1 }, Some(ttl(24 * 3600))))
                .await?;
            Ok::<(), mongodb::error::Error>(())
        };
        result
            .await
            .map_err(|e| MongoStoreError::Indexes(short(&e)))
    }
}

/// The first line of a driver error: enough to act on, without its internals.
fn short(error: &mongodb::error::Error) -> String {
    let text = error.kind.to_string();
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

pub(crate) fn unavailable(error: mongodb::error::Error) -> StoreError {
    StoreError::Unavailable(short(&error))
}

/// Every document matching `filter`, in `sort` order, at most `limit`.
pub(crate) async fn find_all<T>(
    collection: &Collection<T>,
    filter: Document,
    sort: Document,
    limit: u32,
) -> Result<Vec<T>, StoreError>
where
    T: serde::de::DeserializeOwned + Send + Sync,
{
    use futures::TryStreamExt;
    collection
        .find(filter)
        .sort(sort)
        .limit(i64::from(limit))
        .await
        .map_err(unavailable)?
        .try_collect()
        .await
        .map_err(unavailable)
}

/// Leases up to `limit` documents matching `due`, in `sort` order: each is set to
/// `due_field: lease_until` with its `attempts` counted, by compare-and-set on its still
/// being due, so that of two claimants one wins it. Returns them as they were before.
/// The order outbox and the email outbox claim this way.
pub(crate) async fn lease_due<T>(
    collection: &Collection<T>,
    due: Document,
    sort: Document,
    limit: u32,
    due_field: &str,
    lease_until: mongodb::bson::DateTime,
    id_of: impl Fn(&T) -> &str,
) -> Result<Vec<T>, StoreError>
where
    T: serde::de::DeserializeOwned + Send + Sync,
{
    let candidates: Vec<T> = find_all(collection, due.clone(), sort, limit).await?;
    let mut won = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let mut filter = due.clone();
        filter.insert("_id", id_of(&candidate));
        let lease = doc! { "$set": { due_field: lease_until }, "$inc": { "attempts": 1 } };
        if let Some(document) = collection
            .find_one_and_update(filter, lease)
            .await
            .map_err(unavailable)?
        {
            won.push(document);
        }
    }
    Ok(won)
}

pub(crate) fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == 11000,
        ErrorKind::Command(e) => e.code == 11000,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .as_ref()
            .is_some_and(|errors| errors.iter().any(|e| e.code == 11000)),
        _ => false,
    }
}

#[async_trait]
impl Store for MongoStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.database
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
