use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use orderflow_core::FieldError;
use serde::de::DeserializeOwned;

use crate::problem::Problem;
use crate::state::AppState;

/// A JSON body: 400 when it is not JSON (or not sent as JSON), 413 when too large, and 422
/// naming the field when it is JSON of the wrong shape.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(Problem::bad_request(
                "the body must be JSON, sent with Content-Type: application/json",
            ));
        }
        let BodyBytes(bytes) = BodyBytes::from_request(request, state).await?;
        parse_json_object(&bytes).map(ApiJson)
    }
}

/// A JSON object of the shape `T`: 400 when `bytes` are not JSON, 422 naming the field
/// when the JSON has the wrong shape.
pub fn parse_json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    // Most bodies are well formed: read straight into `T`. Only one that is not is read
    // again, as a `Value`, for an answer that names what is wrong. (An object only: a
    // struct would also take the same fields as an array.)
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if first == Some(&b'{')
        && let Ok(parsed) = serde_json::from_slice(bytes)
    {
        return Ok(parsed);
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Problem::bad_request(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if !value.is_object() {
        return Err(Problem::invalid(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        Problem::invalid(vec![FieldError::new(field, e.into_inner().to_string())])
    })
}

/// The raw body, within the body limit (413 beyond it). The limit is applied here, where a
/// body is read, rather than by a layer on every route: that layer added a request
/// extension to every request, bodies or not.
pub struct BodyBytes(pub Bytes);

impl FromRequest<AppState> for BodyBytes {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.settings.body_limit_bytes;
        match Limited::new(request.into_body(), limit).collect().await {
            Ok(body) => Ok(BodyBytes(body.to_bytes())),
            Err(error) if error.is::<LengthLimitError>() => Err(Problem::payload_too_large(limit)),
            Err(_) => Err(Problem::bad_request("the body could not be read")),
        }
    }
}
