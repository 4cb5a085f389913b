//! Request extractors whose rejections are problem documents.
mod client_ip;
mod current_user;
mod json;

pub use client_ip::ClientIp;
pub use current_user::CurrentUser;
pub use json::{ApiJson, BodyBytes, parse_json_object};
