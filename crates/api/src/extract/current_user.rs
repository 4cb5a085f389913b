use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use orderflow_core::UserId;

use crate::problem::Problem;
use crate::state::AppState;

/// The user a valid `Authorization: Bearer <jwt>` names; 401 otherwise.
pub struct CurrentUser(pub UserId);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| Problem::unauthorized("an Authorization: Bearer token is required"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be Bearer <token>")
            })?;
        let user = state.auth.verify_access_token(token)?;
        Ok(Self(user))
    }
}
