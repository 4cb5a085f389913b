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
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;

use crate::edge::{Edge, EdgeLayer, panicked};
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
    let router = with_cors(router, cors);
    // Outermost, so preflights are traced, counted and given the headers too. The edge also
    // answers a panicking handler with a 500, like any other failure.
    let edge = Arc::new(Edge {
        metrics: Arc::clone(&state.metrics),
        headers,
    });
    router.layer(EdgeLayer(edge)).with_state(state)
}

/// `router` answering the origins `cors` allows. A handler that panics is answered inside
/// the CORS layer too, so its 500 carries the CORS headers: a browser then shows the
/// problem, not a CORS failure. (Without CORS the edge alone catches panics, with no layer
/// per route for it.)
fn with_cors<S>(router: Router<S>, cors: Option<CorsLayer>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    match cors {
        Some(cors) => router
            .layer(CatchPanicLayer::custom(|_| panicked()))
            .layer(cors),
        None => router,
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::header;
    use orderflow_telemetry::Metrics;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_handler_that_panics_is_answered_with_the_cors_headers_of_its_origin() {
        async fn panics() -> &'static str {
            panic!("a handler bug")
        }
        let origin = "https://shop.example";
        let cors = security_headers::cors(&[origin.to_owned()]);
        let edge = Arc::new(Edge {
            metrics: Arc::new(Metrics::new()),
            headers: SecurityHeaders::new(None),
        });
        let app = with_cors(Router::new().route("/boom", get(panics)), cors).layer(EdgeLayer(edge));
        let request = Request::get("/boom")
            .header(header::ORIGIN, origin)
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
