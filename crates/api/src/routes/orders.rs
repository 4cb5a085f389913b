use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderflow_core::usecases::{CacheStatus, OrderError};
use orderflow_core::{FieldErrors, IdempotencyKey, OrderId, OrderRequest, OrderStatus};

use crate::dto::{OrderListQuery, OrderPage, OrderView, PlaceOrderRequest};
use crate::edge;
use crate::extract::{ApiJson, CurrentUser};
use crate::problem::Problem;
use crate::request_context::RequestContext;
use crate::routes::paging::{into_result, page_params};
use crate::state::AppState;

const IDEMPOTENCY_KEY: &str = "idempotency-key";
const X_CACHE: header::HeaderName = header::HeaderName::from_static("x-cache");

pub(crate) fn order_id(raw: &str) -> Result<OrderId, Problem> {
    // A malformed id names no order: the same 404 as an unknown one.
    OrderId::parse(raw).map_err(|_| Problem::not_found("no such order"))
}

/// Place an order. Prices come from the inventory; stock for every line is reserved
/// atomically with the order's creation.
#[utoipa::path(post, path = "/api/orders", operation_id = "placeOrder", tag = "orders", security(("bearer" = [])),
    request_body = PlaceOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 255 characters; the same key and body within 24 h replays the first response")),
    responses(
        (status = 201, description = "Placed; Location names it", body = OrderView,
            headers(("Location" = String, description = "/api/orders/{id}"),
                    ("Idempotent-Replayed" = String, description = "\"true\" when this is a replay"))),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Insufficient stock: errors lists each short line", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, unknown product, totalAmount mismatch, or a reused Idempotency-Key", body = Problem, content_type = "application/problem+json")))]
pub async fn place(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    headers: HeaderMap,
    context: RequestContext,
    ApiJson(body): ApiJson<PlaceOrderRequest>,
) -> Result<Response, Problem> {
    let mut errors = FieldErrors::new();
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => errors.take(
            "Idempotency-Key",
            value
                .to_str()
                .map_err(|_| "must be visible ASCII characters".to_owned())
                .and_then(IdempotencyKey::parse),
        ),
    };
    let lines: Vec<(String, i64)> = body
        .items
        .into_iter()
        .map(|line| (line.product_id, line.quantity))
        .collect();
    let request = match OrderRequest::parse(&lines, body.total_amount) {
        Ok(request) if errors.is_empty() => request,
        Ok(_) => return Err(Problem::invalid(errors.into_vec())),
        Err(found) => {
            let mut all = errors.into_vec();
            all.extend(found);
            return Err(Problem::invalid(all));
        }
    };
    let placed = match state
        .orders
        .place(user_id, request, key, context.trace)
        .await
    {
        Ok(placed) => {
            if !placed.replayed {
                state.metrics.order_placed();
            }
            placed
        }
        Err(e) => {
            state.metrics.order_rejected(rejection_reason(&e));
            return Err(e.into());
        }
    };
    let location = format!("/api/orders/{}", placed.order.id);
    let mut response = (StatusCode::CREATED, Json(OrderView::from(&placed.order))).into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    if placed.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// One of the caller's orders. Another user's order is 404, as if it did not exist.
#[utoipa::path(get, path = "/api/orders/{id}", operation_id = "getOrder", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order", body = OrderView,
            headers(("X-Cache" = String, description = "HIT when served from the cache, else MISS"))),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or not the caller's", body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (order, cache) = state.orders.get(user_id, order_id(&id)?).await?;
    state.metrics.cache_read(cache == CacheStatus::Hit);
    let json = state
        .encoded_orders
        .json(&order)
        .map_err(|e| Problem::internal(&e))?;
    let mut headers = edge::answer_headers(2);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(X_CACHE, HeaderValue::from_static(cache.as_str()));
    let mut response = Response::new(Body::from(json));
    *response.headers_mut() = headers;
    Ok(response)
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/orders", operation_id = "listOrders", tag = "orders", security(("bearer" = [])),
    params(OrderListQuery),
    responses(
        (status = 200, description = "One page of orders", body = OrderPage),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad status, limit or cursor", body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    query: Result<Query<OrderListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let mut errors = FieldErrors::new();
    let status = query
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(|raw| errors.take("status", OrderStatus::parse(raw)));
    let (limit, cursor) = page_params(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    let limit = into_result(errors, limit)?;
    let page = state
        .orders
        .list(user_id, status, cursor.as_ref(), limit)
        .await?;
    Ok(Json(OrderPage::from(&page)).into_response())
}

/// Cancel a PENDING order; its stock is released.
#[utoipa::path(post, path = "/api/orders/{id}/cancel", operation_id = "cancelOrder", tag = "orders", security(("bearer" = [])),
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "The order, now CANCELLED", body = OrderView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not PENDING any more", body = Problem, content_type = "application/problem+json")))]
pub async fn cancel(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let order = state.orders.cancel(user_id, order_id(&id)?).await?;
    Ok(Json(OrderView::from(&order)).into_response())
}

/// A bounded label for a refused placement.
fn rejection_reason(error: &OrderError) -> &'static str {
    match error {
        OrderError::Invalid(_) => "invalid",
        OrderError::InsufficientStock(_) => "insufficient_stock",
        OrderError::IdempotencyKeyReused => "idempotency_key_reused",
        OrderError::CatalogBusy => "catalog_busy",
        OrderError::NotFound | OrderError::NotCancellable(_) => "other",
        OrderError::Store(_) => "unavailable",
    }
}
