//! The stored shapes: typed documents with string ids (UUIDv7, readable in logs and the
//! API) and BSON dates, and their conversions to domain values. A stored value that no
//! longer parses is reported as corrupt, never guessed at.
use mongodb::bson::DateTime;
use orderflow_core::ports::StoreError;
use orderflow_core::{
    Currency, Email, Money, Order, OrderId, OrderLine, OrderStatus, Product, ProductId,
    ProductName, Quantity, StatusChange, User, UserId, UserName,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub(crate) fn date(at: OffsetDateTime) -> DateTime {
    DateTime::from_millis((at.unix_timestamp_nanos() / 1_000_000) as i64)
}

pub(crate) fn time_of(at: DateTime) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.timestamp_millis()) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parsed<T>(
    what: &str,
    raw: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, StoreError> {
    parse(raw).map_err(|e| StoreError::Corrupt(format!("{what} {raw:?} {e}")))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: String,
    pub created_at: DateTime,
}

impl UserDoc {
    pub fn user(&self) -> Result<User, StoreError> {
        Ok(User {
            id: parsed("user id", &self.id, UserId::parse)?,
            name: parsed("user name", &self.name, UserName::parse)?,
            email: parsed("email", &self.email, Email::parse)?,
            created_at: time_of(self.created_at)?,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshTokenDoc {
    #[serde(rename = "_id")]
    pub hash: String,
    pub family_id: String,
    pub user_id: String,
    pub issued_at: DateTime,
    pub expires_at: DateTime,
    pub rotated_at: Option<DateTime>,
    pub revoked_at: Option<DateTime>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProductDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    pub unit_price: i64,
    pub currency: String,
    pub stock: i64,
}

impl ProductDoc {
    pub fn from_product(p: &Product) -> Self {
        Self {
            id: p.id.as_str().to_owned(),
            name: p.name.as_str().to_owned(),
            unit_price: p.unit_price.minor(),
            currency: p.unit_price.currency().as_str().to_owned(),
            stock: i64::from(p.stock),
        }
    }

    pub fn product(&self) -> Result<Product, StoreError> {
        let currency = parsed("currency", &self.currency, Currency::parse)?;
        Ok(Product {
            id: parsed("product id", &self.id, ProductId::parse)?,
            name: parsed("product name", &self.name, ProductName::parse)?,
            unit_price: Money::new(self.unit_price, currency).map_err(StoreError::Corrupt)?,
            stock: u32::try_from(self.stock)
                .map_err(|_| StoreError::Corrupt(format!("stock {} of {}", self.stock, self.id)))?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LineDoc {
    pub product_id: String,
    pub name: String,
    pub quantity: i64,
    pub unit_price: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangeDoc {
    pub status: String,
    pub at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ChangeDoc {
    pub fn from_change(change: &StatusChange) -> Self {
        Self {
            status: change.status.as_str().to_owned(),
            at: date(change.at),
            reason: change.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    pub status: String,
    pub lines: Vec<LineDoc>,
    pub total: i64,
    pub currency: String,
    pub history: Vec<ChangeDoc>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl OrderDoc {
    pub fn from_order(order: &Order) -> Self {
        Self {
            id: order.id.to_string(),
            user_id: order.user_id.to_string(),
            status: order.status.as_str().to_owned(),
            lines: order
                .lines
                .iter()
                .map(|l| LineDoc {
                    product_id: l.product_id.as_str().to_owned(),
                    name: l.name.as_str().to_owned(),
                    quantity: i64::from(l.quantity.get()),
                    unit_price: l.unit_price.minor(),
                })
                .collect(),
            total: order.total.minor(),
            currency: order.total.currency().as_str().to_owned(),
            history: order.history.iter().map(ChangeDoc::from_change).collect(),
            created_at: date(order.created_at),
            updated_at: date(order.updated_at),
        }
    }

    pub fn order(&self) -> Result<Order, StoreError> {
        let currency = parsed("currency", &self.currency, Currency::parse)?;
        let money = |minor: i64| Money::new(minor, currency).map_err(StoreError::Corrupt);
        let lines = self
            .lines
            .iter()
            .map(|l| {
                Ok(OrderLine {
                    product_id: parsed("product id", &l.product_id, ProductId::parse)?,
                    name: parsed("product name", &l.name, ProductName::parse)?,
                    quantity: Quantity::parse(l.quantity).map_err(StoreError::Corrupt)?,
                    unit_price: money(l.unit_price)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let history = self
            .history
            .iter()
            .map(|c| {
                Ok(StatusChange {
                    status: parsed("status", &c.status, OrderStatus::parse)?,
                    at: time_of(c.at)?,
                    reason: c.reason.clone(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Order {
            id: parsed("order id", &self.id, OrderId::parse)?,
            user_id: parsed("user id", &self.user_id, UserId::parse)?,
            status: parsed("status", &self.status, OrderStatus::parse)?,
            lines,
            total: money(self.total)?,
            history,
            created_at: time_of(self.created_at)?,
            updated_at: time_of(self.updated_at)?,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OutboxDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub order_id: String,
    pub payload: String,
    pub created_at: DateTime,
    pub state: String,
    pub available_at: DateTime,
    pub attempts: i64,
    pub sent_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IdempotencyDoc {
    /// `<userId>:<key>`; user ids have a fixed length, so this is unambiguous.
    #[serde(rename = "_id")]
    pub id: String,
    pub user_id: String,
    pub key: String,
    pub fingerprint: String,
    pub status: i32,
    pub response: OrderDoc,
    pub created_at: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EmailDoc {
    /// `<orderId>:<STATUS>`.
    #[serde(rename = "_id")]
    pub id: String,
    pub order_id: String,
    pub status: String,
    /// pending, sent, rejected or failed.
    pub state: String,
    /// When a pending email may be handed out (a lease or a retry pushes it on); when it was
    /// settled once it is.
    pub due_at: DateTime,
    pub attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Why it was rejected or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}
