//! The HTTP edge: axum router, handlers, authentication, problem+json errors, OpenAPI.
#![forbid(unsafe_code)]

pub mod auth;
mod dto;
mod extract;
mod openapi;
mod problem;
mod routes;
mod settings;
mod startup;
mod state;
mod trace_context;

pub use openapi::openapi_json;
pub use settings::{ApiSettings, RateLimits};
pub use startup::{Application, serve};
pub use state::{AppState, Dependencies};
