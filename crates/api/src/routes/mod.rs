use std::sync::Arc;

pub(crate) mod auth;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod inventory;
pub(crate) mod orders;
mod paging;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::edge::{Edge, EdgeLayer};
use crate::openapi::serve_openapi;
use crate::problem::Problem;
use crate::security_headers::{self, SecurityHeaders};
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let cors = security_headers::cors(&state.settings.cors_allowed_origins);
    let headers = SecurityHeaders::new(state.settings.hsts_max_age);
    let router = Router::new()
        .route("/api/auth/register", post(auth::register))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/me", get(auth::me))
        .route("/api/inventory", get(inventory::list))
        .route("/api/inventory/{product_id}", get(inventory::get))
        .route("/api/orders", post(orders::place).get(orders::list))
        .route("/api/orders/{id}", get(orders::get))
        .route("/api/orders/{id}/cancel", post(orders::cancel))
        .route("/api/orders/{id}/events", get(events::events))
        .route("/api/openapi.json", get(serve_openapi))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    // Outermost, so preflights are traced, counted and given the headers too. The edge also
    // answers a panicking handler with a 500, like any other failure.
    let edge = Arc::new(Edge {
        metrics: Arc::clone(&state.metrics),
        headers,
    });
    router.layer(EdgeLayer(edge)).with_state(state)
}

async fn not_found() -> Problem {
    Problem::not_found("no such resource")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
    )
    .detail("this resource does not support that method")
}
