//! The HTTP edge: axum router, handlers, authentication, problem+json errors, OpenAPI.
#![forbid(unsafe_code)]

pub mod auth;
mod dto;
mod edge;
mod encoded_orders;
mod extract;
mod head_deadline;
mod openapi;
mod problem;
mod request_context;
mod routes;
mod security_headers;
mod settings;
mod startup;
mod state;
mod trace_context;

pub use openapi::openapi_json;
pub use settings::{ApiSettings, ConnectionLimits, OptionalDependency, RateLimits};
pub use startup::Application;
pub use state::{AppState, Dependencies};
