//! The OpenAPI 3.1 document, generated from the handlers' annotations and types.
use axum::Json;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orderflow",
        description = "Event-driven order processing: auth with rotating refresh tokens, stock-checked orders, asynchronous processing. Errors are application/problem+json (RFC 9457).",
    ),
    paths(
        routes::auth::register, routes::auth::login, routes::auth::refresh,
        routes::auth::logout, routes::auth::me,
        routes::inventory::list, routes::inventory::get,
        routes::orders::place, routes::orders::list, routes::orders::get, routes::orders::cancel,
        routes::events::events,
        routes::health::healthz, routes::health::readyz, routes::health::metrics,
    ),
    components(schemas(crate::problem::Problem, crate::problem::ProblemField)),
    modifiers(&BearerAuth, &OptionalRefreshBodies),
    tags(
        (name = "auth", description = "Registration, login, token refresh and logout"),
        (name = "inventory", description = "Products and their stock"),
        (name = "orders", description = "Placing and following orders"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            let mut scheme = Http::new(HttpAuthScheme::Bearer);
            scheme.bearer_format = Some("JWT".to_owned());
            components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
        }
    }
}

/// Refresh and logout also take the token from the cookie, so their body is optional.
struct OptionalRefreshBodies;

impl Modify for OptionalRefreshBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for path in ["/api/auth/refresh", "/api/auth/logout"] {
            let body = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.post.as_mut())
                .and_then(|operation| operation.request_body.as_mut());
            if let Some(body) = body {
                body.required = Some(utoipa::openapi::Required::False);
            }
        }
    }
}

/// The document as pretty JSON (what `orderflow openapi` prints).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "This document")))]
pub async fn serve_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
