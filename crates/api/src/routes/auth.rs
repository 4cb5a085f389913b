use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use orderflow_core::Email;
use orderflow_core::ports::RateDecision;
use orderflow_core::usecases::{AuthError, Registration, Session};

use crate::dto::{LoginRequest, RefreshRequest, RegisterRequest, SessionView, UserEnvelope};
use crate::extract::{ApiJson, BodyBytes, ClientIp, CurrentUser, parse_json_object};
use crate::problem::Problem;
use crate::settings::RateLimit;
use crate::state::AppState;

const COOKIE: &str = "refreshToken";

/// Counts one request against `key`; over the limit is a 429 with `Retry-After`. A limiter
/// that cannot be reached lets the request through: an outage must not lock everyone out.
async fn enforce(
    state: &AppState,
    key: &str,
    limit: RateLimit,
    count: bool,
) -> Result<(), Problem> {
    match state
        .rate_limiter
        .decide(key, limit.limit, limit.window, count)
        .await
    {
        Ok(RateDecision::Allowed) => Ok(()),
        Ok(RateDecision::Limited { retry_after }) => Err(Problem::too_many_requests(retry_after)),
        Err(e) => {
            tracing::debug!(error = %e, "rate limiter unavailable; allowing the request");
            Ok(())
        }
    }
}

async fn per_ip(state: &AppState, route: &str, ClientIp(ip): ClientIp) -> Result<(), Problem> {
    enforce(
        state,
        &format!("ip:{route}:{ip}"),
        state.settings.rate_limits.per_ip,
        true,
    )
    .await
}

/// Register a new user.
#[utoipa::path(post, path = "/api/auth/register", operation_id = "register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = UserEnvelope),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json")))]
pub async fn register(
    State(state): State<AppState>,
    client: ClientIp,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserEnvelope>), Problem> {
    per_ip(&state, "register", client).await?;
    let name = body.name.unwrap_or_else(|| {
        body.email
            .trim()
            .split('@')
            .next()
            .unwrap_or_default()
            .to_owned()
    });
    let registration =
        Registration::parse(&name, &body.email, &body.password).map_err(Problem::invalid)?;
    let user = state.auth.register(registration).await?;
    tracing::info!(user_id = %user.id, "user registered");
    Ok((
        StatusCode::CREATED,
        Json(UserEnvelope {
            user: (&user).into(),
        }),
    ))
}

/// Log in with email and password.
#[utoipa::path(post, path = "/api/auth/login", operation_id = "login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the refresh token is also set as an HttpOnly cookie", body = SessionView),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Invalid email or password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json")))]
pub async fn login(
    State(state): State<AppState>,
    client: ClientIp,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, Problem> {
    per_ip(&state, "login", client).await?;
    let failures = state.settings.rate_limits.failed_logins_per_email;
    let email_key = Email::parse(&body.email)
        .ok()
        .map(|email| format!("login-failures:{}", email.normalized()));
    if let Some(key) = &email_key {
        enforce(&state, key, failures, false).await?;
    }
    match state.auth.login(&body.email, &body.password).await {
        Ok(session) => Ok(session_response(&state, session)),
        Err(AuthError::InvalidCredentials) => {
            if let Some(key) = &email_key {
                enforce(&state, key, failures, true).await?;
            }
            Err(AuthError::InvalidCredentials.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Exchange a refresh token for a new access token and a new refresh token.
#[utoipa::path(post, path = "/api/auth/refresh", operation_id = "refresh", tag = "auth", request_body(content = RefreshRequest,
        description = "Optional: the refresh token may come from the refreshToken cookie instead"),
    responses(
        (status = 200, description = "Rotated: the presented refresh token is now dead", body = SessionView),
        (status = 400, description = "A body that is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A JSON body of the wrong shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, expired, revoked or reused refresh token (reuse revokes the whole login)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json")))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    BodyBytes(body): BodyBytes,
) -> Result<Response, Problem> {
    per_ip(&state, "refresh", client).await?;
    let token = presented_refresh_token(&headers, &body)?
        .ok_or_else(|| Problem::from(AuthError::InvalidRefreshToken))?;
    let session = state.auth.refresh(&token).await?;
    Ok(session_response(&state, session))
}

/// End the login the refresh token belongs to.
#[utoipa::path(post, path = "/api/auth/logout", operation_id = "logout", tag = "auth", request_body(content = RefreshRequest,
        description = "Optional: the refresh token may come from the refreshToken cookie instead"),
    responses(
        (status = 204, description = "Logged out; every refresh token of this login is revoked"),
        (status = 400, description = "A body that is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A JSON body of the wrong shape", body = Problem, content_type = "application/problem+json")))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    BodyBytes(body): BodyBytes,
) -> Result<Response, Problem> {
    if let Some(token) = presented_refresh_token(&headers, &body)? {
        state.auth.logout(&token).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, refresh_cookie("", Duration::ZERO));
    Ok(response)
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/auth/me", operation_id = "me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserEnvelope),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json")))]
pub async fn me(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
) -> Result<Json<UserEnvelope>, Problem> {
    let user = state.auth.me(user_id).await?;
    Ok(Json(UserEnvelope {
        user: (&user).into(),
    }))
}

/// The refresh token from the JSON body if it has one, else from the cookie.
fn presented_refresh_token(headers: &HeaderMap, body: &[u8]) -> Result<Option<String>, Problem> {
    // The body is optional here: the token may come in the cookie instead.
    if !body.iter().all(u8::is_ascii_whitespace) {
        let parsed: RefreshRequest = parse_json_object(body)?;
        if let Some(token) = parsed.refresh_token {
            return Ok(Some(token));
        }
    }
    Ok(headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned()))
}

fn refresh_cookie(token: &str, max_age: Duration) -> HeaderValue {
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/api/auth; Max-Age={}",
        max_age.as_secs()
    );
    // Tokens are base64url, so the cookie is always a valid header value.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn session_response(state: &AppState, session: Session) -> Response {
    let max_age = state.settings.refresh_token_ttl;
    let cookie = refresh_cookie(session.refresh.expose(), max_age);
    let view = SessionView {
        access_token: session.access.token,
        token_type: "Bearer",
        expires_in: session.access.expires_in_seconds,
        refresh_token: session.refresh.expose().to_owned(),
        user: (&session.user).into(),
    };
    // `Cache-Control: no-store` comes with every auth answer (security_headers).
    let mut response = Json(view).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}
