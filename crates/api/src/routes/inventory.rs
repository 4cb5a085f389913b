use axum::Json;
use axum::extract::{Path, Query, State};
use orderflow_core::{FieldErrors, PageLimit, ProductId};

use crate::dto::{InventoryItem, InventoryPage, PageQuery};
use crate::problem::Problem;
use crate::routes::paging::{into_result, page_params};
use crate::state::AppState;

/// List the inventory in product id order.
#[utoipa::path(get, path = "/api/inventory", operation_id = "listInventory", tag = "inventory", params(PageQuery),
    responses(
        (status = 200, description = "One page of products", body = InventoryPage),
        (status = 422, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InventoryPage>, Problem> {
    let Query(query) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let mut errors = FieldErrors::new();
    let (limit, cursor) = page_params(query.limit.as_deref(), query.cursor.as_deref(), &mut errors);
    let limit: PageLimit = into_result(errors, limit)?;
    let page = state.inventory.list(cursor.as_ref(), limit).await?;
    Ok(Json(page.into()))
}

/// One product.
#[utoipa::path(get, path = "/api/inventory/{productId}", operation_id = "getInventoryItem", tag = "inventory",
    params(("productId" = String, Path, description = "The product's id (SKU)")),
    responses(
        (status = 200, description = "The product", body = InventoryItem),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    Path(product_id): Path<String>,
) -> Result<Json<InventoryItem>, Problem> {
    let id = ProductId::parse(&product_id).map_err(|_| Problem::not_found("no such product"))?;
    let product = state.inventory.get(&id).await?;
    Ok(Json((&product).into()))
}
