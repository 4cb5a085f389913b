//! The HTTP edge: axum router, handlers, authentication, problem+json errors, OpenAPI.
#![forbid(unsafe_code)]

pub mod auth;
mod dto;
mod edge;
mod encoded_orders;
mod extract;
mod head_deadline;
mod open_streams;
mod openapi;
mod order_rechecks;
mod problem;
mod request_context;
mod routes;
mod security_headers;
mod settings;
mod startup;
mod state;
mod trace_context;

pub use openapi::openapi_json;
pub use settings::{ApiSettings, ConnectionLimits, OptionalDependency, RateLimits, StreamLimits};
pub use startup::Application;
pub use state::{AppState, Dependencies};
