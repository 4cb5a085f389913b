//! The JSON shapes of API.md. Domain types are converted here, at the edge, and nowhere else.
use orderflow_core::usecases::Page;
use orderflow_core::{Currency, Order, OrderId, OrderStatus, Product, User, UserId};
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A timestamp in RFC 3339, written straight into the response (no string of its own:
/// reading an order is the hot path).
fn serialize_rfc3339<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    // Long enough for any year up to 9999 with nanoseconds and an offset.
    let mut buffer = [0u8; 48];
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    at.format_into(&mut cursor, &time::format_description::well_known::Rfc3339)
        .map_err(serde::ser::Error::custom)?;
    let written = usize::try_from(cursor.position()).map_err(serde::ser::Error::custom)?;
    let text = std::str::from_utf8(&buffer[..written]).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(text)
}

/// An id by its `Display`, written straight into the response.
fn serialize_display<T: std::fmt::Display, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterRequest {
    /// 1 to 100 characters; the part of the email before `@` when omitted.
    #[schema(example = "Ada Lovelace")]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 8 to 128 characters.
    #[serde(default)]
    #[schema(
        example = "correct horse battery staple",
        min_length = 8,
        max_length = 128
    )]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    #[serde(default)]
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[serde(default)]
    #[schema(example = "correct horse battery staple")]
    pub password: String,
}

/// The refresh token may come in the body or in the `refreshToken` cookie.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: String,
    #[serde(serialize_with = "serialize_rfc3339")]
    #[schema(value_type = String, example = "2026-11-22T10:00:00Z")]
    pub created_at: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            name: user.name.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            created_at: user.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserEnvelope {
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryItem {
    #[schema(example = "sku-mug")]
    pub product_id: String,
    #[schema(example = "Mug")]
    pub name: String,
    /// Minor units (cents).
    #[schema(example = 1999)]
    pub unit_price: i64,
    #[schema(example = "USD")]
    pub currency: String,
    pub stock: u32,
}

impl From<&Product> for InventoryItem {
    fn from(p: &Product) -> Self {
        Self {
            product_id: p.id.as_str().to_owned(),
            name: p.name.as_str().to_owned(),
            unit_price: p.unit_price.minor(),
            currency: p.unit_price.currency().as_str().to_owned(),
            stock: p.stock,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryPage {
    pub items: Vec<InventoryItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<Product>> for InventoryPage {
    fn from(page: Page<Product>) -> Self {
        Self {
            items: page.items.iter().map(InventoryItem::from).collect(),
            next_cursor: page.next_cursor.map(|c| c.encode()),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineRequest {
    #[serde(default)]
    #[schema(example = "sku-mug")]
    pub product_id: String,
    #[serde(default)]
    #[schema(example = 2, minimum = 1, maximum = 10000)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOrderRequest {
    /// 1 to 100 lines; a productId given twice is merged.
    #[serde(default)]
    pub items: Vec<OrderLineRequest>,
    /// Optional: the total the client expects, in minor units; 422 if the server's differs.
    pub total_amount: Option<i64>,
}

/// Order statuses: PENDING → PROCESSING → PROCESSED | FAILED; PENDING → CANCELLED.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusView {
    Pending,
    Processing,
    Processed,
    Failed,
    Cancelled,
}

impl From<OrderStatus> for StatusView {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Pending => Self::Pending,
            OrderStatus::Processing => Self::Processing,
            OrderStatus::Processed => Self::Processed,
            OrderStatus::Failed => Self::Failed,
            OrderStatus::Cancelled => Self::Cancelled,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineView<'a> {
    pub product_id: &'a str,
    pub name: &'a str,
    pub quantity: u32,
    pub unit_price: i64,
    pub line_total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusChangeView<'a> {
    pub status: StatusView,
    #[serde(serialize_with = "serialize_rfc3339")]
    #[schema(value_type = String)]
    pub at: OffsetDateTime,
    /// Set on FAILED and CANCELLED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

// Borrows from the order rather than copying it: reading an order is the hot path.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView<'a> {
    #[serde(serialize_with = "serialize_display")]
    #[schema(value_type = String)]
    pub id: OrderId,
    #[serde(serialize_with = "serialize_display")]
    #[schema(value_type = String)]
    pub user_id: UserId,
    pub status: StatusView,
    pub items: Vec<OrderLineView<'a>>,
    /// Minor units (cents).
    pub total_amount: i64,
    #[serde(serialize_with = "serialize_display")]
    #[schema(value_type = String)]
    pub currency: Currency,
    pub status_history: Vec<StatusChangeView<'a>>,
    #[serde(serialize_with = "serialize_rfc3339")]
    #[schema(value_type = String)]
    pub created_at: OffsetDateTime,
    #[serde(serialize_with = "serialize_rfc3339")]
    #[schema(value_type = String)]
    pub updated_at: OffsetDateTime,
}

impl<'a> From<&'a Order> for OrderView<'a> {
    fn from(order: &'a Order) -> Self {
        Self {
            id: order.id,
            user_id: order.user_id,
            status: order.status.into(),
            items: order
                .lines
                .iter()
                .map(|line| OrderLineView {
                    product_id: line.product_id.as_str(),
                    name: line.name.as_str(),
                    quantity: line.quantity.get(),
                    unit_price: line.unit_price.minor(),
                    line_total: line.line_total().map_or(0, |m| m.minor()),
                })
                .collect(),
            total_amount: order.total.minor(),
            currency: order.total.currency(),
            status_history: order
                .history
                .iter()
                .map(|change| StatusChangeView {
                    status: change.status.into(),
                    at: change.at,
                    reason: change.reason.as_deref(),
                })
                .collect(),
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPage<'a> {
    pub items: Vec<OrderView<'a>>,
    pub next_cursor: Option<String>,
}

impl<'a> From<&'a Page<Order>> for OrderPage<'a> {
    fn from(page: &'a Page<Order>) -> Self {
        Self {
            items: page.items.iter().map(OrderView::from).collect(),
            next_cursor: page.next_cursor.as_ref().map(|c| c.encode()),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListQuery {
    /// Only orders in this status.
    pub status: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// "ok", "degraded" (only optional dependencies down) or "unavailable".
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Each configured dependency: "ok" or "down".
    #[schema(value_type = Object, example = json!({"store": "ok", "cache": "ok", "queue": "ok"}))]
    pub checks: std::collections::BTreeMap<&'static str, &'static str>,
}
