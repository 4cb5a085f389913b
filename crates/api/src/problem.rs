//! Every error leaves as `application/problem+json` (RFC 9457), mapped here and only here.
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderflow_core::FieldError;
use orderflow_core::ports::{CredentialError, StoreError};
use orderflow_core::usecases::{AuthError, InventoryError, OrderError};
use serde::Serialize;
use utoipa::ToSchema;

const TYPE_BASE: &str = "https://orderflow.dev/problems/";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    #[schema(example = "https://orderflow.dev/problems/insufficient-stock")]
    pub kind: String,
    #[schema(example = "Insufficient stock")]
    pub title: &'static str,
    #[schema(example = 409)]
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// One entry per invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<ProblemField>)]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    retry_after: Option<Duration>,
    #[serde(skip)]
    challenge: bool,
}

/// A field of the request and what is wrong with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    #[schema(example = "items[0].quantity")]
    pub field: String,
    #[schema(example = "requested 5, available 2")]
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &'static str) -> Self {
        Self {
            kind: format!("{TYPE_BASE}{slug}"),
            title,
            status: status.as_u16(),
            detail: None,
            errors: Vec::new(),
            retry_after: None,
            challenge: false,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request").detail(detail)
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => "1 field is invalid".to_owned(),
            n => format!("{n} fields are invalid"),
        };
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request",
        )
        .detail(detail)
        .errors(errors)
    }

    pub fn unauthorized(detail: &str) -> Self {
        let mut problem =
            Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized").detail(detail);
        problem.challenge = true;
        problem
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found").detail(detail)
    }

    pub fn too_many_requests(retry_after: Duration) -> Self {
        let mut problem = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
        )
        .detail("slow down and retry after the time in Retry-After");
        problem.retry_after = Some(retry_after);
        problem
    }

    pub fn too_many_streams(per_user: u32, total: u32) -> Self {
        let mut problem = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-streams",
            "Too many event streams",
        )
        .detail(format!(
            "at most {per_user} event streams per user and {total} in all are open at once; \
             close one, or retry after the time in Retry-After"
        ));
        problem.retry_after = Some(Duration::from_secs(5));
        problem
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
        )
        .detail(format!("the body must be at most {limit} bytes"))
    }

    /// A dependency failed. The cause is logged, never sent: it may hold driver internals.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "a dependency failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        )
        .detail("a service this request needs is not answering; nothing was changed, retry later")
    }

    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
        )
        .detail("something went wrong on our side")
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry_after = self.retry_after;
        let challenge = self.challenge;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(retry_after) = retry_after {
            // Whole seconds, rounded up so a client that waits exactly this long gets through.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        Self::unavailable(&error)
    }
}

impl From<CredentialError> for Problem {
    fn from(error: CredentialError) -> Self {
        match error {
            CredentialError::InvalidToken => {
                Self::unauthorized("the access token is missing, malformed, expired or not ours")
            }
            CredentialError::Internal(_) => Self::internal(&error),
        }
    }
}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Invalid(errors) => Self::invalid(errors),
            AuthError::EmailTaken => Self::new(StatusCode::CONFLICT, "email-taken", "Email taken")
                .detail("an account with this email already exists"),
            AuthError::InvalidCredentials => Self::unauthorized("invalid email or password"),
            AuthError::InvalidRefreshToken => {
                Self::unauthorized("the refresh token is missing, expired or revoked")
            }
            AuthError::RefreshTokenReused => Self::unauthorized(
                "the refresh token was already used; every session of that login has been revoked",
            ),
            AuthError::UnknownUser => Self::unauthorized("the account no longer exists"),
            AuthError::Store(e) => e.into(),
            AuthError::Credentials(e) => e.into(),
        }
    }
}

impl From<OrderError> for Problem {
    fn from(error: OrderError) -> Self {
        match error {
            OrderError::Invalid(errors) => Self::invalid(errors),
            OrderError::InsufficientStock(errors) => {
                let detail = match errors.len() {
                    1 => "1 item cannot be reserved".to_owned(),
                    n => format!("{n} items cannot be reserved"),
                };
                Self::new(
                    StatusCode::CONFLICT,
                    "insufficient-stock",
                    "Insufficient stock",
                )
                .detail(detail)
                .errors(errors)
            }
            OrderError::NotFound => Self::not_found("no such order"),
            OrderError::NotCancellable(status) => Self::new(
                StatusCode::CONFLICT,
                "not-cancellable",
                "Order cannot be cancelled",
            )
            .detail(format!(
                "the order is {status}; only PENDING orders can be cancelled"
            )),
            OrderError::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused",
            )
            .detail("this Idempotency-Key was already used with a different request body")
            .errors(vec![FieldError::new(
                "Idempotency-Key",
                "was used with a different request",
            )]),
            OrderError::CatalogBusy => {
                Self::new(StatusCode::CONFLICT, "catalog-changed", "Catalog changed")
                    .detail("prices changed while the order was placed; retry")
            }
            OrderError::Store(e) => e.into(),
        }
    }
}

impl From<InventoryError> for Problem {
    fn from(error: InventoryError) -> Self {
        match error {
            InventoryError::NotFound => Self::not_found("no such product"),
            InventoryError::BadCursor => Self::invalid(vec![FieldError::new(
                "cursor",
                "is not a cursor this API returned",
            )]),
            InventoryError::Store(e) => e.into(),
        }
    }
}

impl Problem {
    /// For layers that need a concrete response type.
    pub fn into_response_owned(self) -> Response {
        self.into_response()
    }
}
