//! Response headers that make browsers handle API responses safely: never sniffed as
//! another type, never framed, no referrer, nothing loaded on their behalf; answers to the
//! auth routes never cached; and, when the service is reached only over HTTPS, HSTS. Plus
//! CORS for the origins an operator allows (none by default).
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The HSTS header, when the service is only reached over HTTPS.
#[derive(Clone)]
pub struct SecurityHeaders {
    hsts: Option<HeaderValue>,
}

impl SecurityHeaders {
    /// The most headers [`Self::apply`] sets on one answer.
    pub const MOST: usize = 6;

    pub fn new(hsts_max_age: Option<Duration>) -> Self {
        let hsts = hsts_max_age.and_then(|age| {
            HeaderValue::from_str(&format!("max-age={}; includeSubDomains", age.as_secs())).ok()
        });
        Self { hsts }
    }

    /// Sets the headers on the answer to a request for `path`.
    pub fn apply(&self, headers: &mut HeaderMap, path: &RequestPath) {
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
        if path.auth_route {
            // Tokens and user details must not stay in any cache on the way.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if let Some(hsts) = &self.hsts {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
}

/// What the headers depend on of the request's path, taken before the request is handled
/// (the handler consumes the request).
pub struct RequestPath {
    auth_route: bool,
}

impl RequestPath {
    pub fn of(path: &str) -> Self {
        Self {
            auth_route: path.starts_with("/api/auth/"),
        }
    }
}

/// CORS for exactly `origins` (with credentials, for the refresh-token cookie), or `None`
/// when no origin is allowed: then browsers keep other sites' scripts out.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("traceparent"),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([
                header::LOCATION,
                header::RETRY_AFTER,
                HeaderName::from_static("x-cache"),
                HeaderName::from_static("traceresponse"),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_headers_set_on_one_answer_is_most() {
        let headers = SecurityHeaders::new(Some(Duration::from_secs(60)));
        let mut answer = HeaderMap::new();
        headers.apply(&mut answer, &RequestPath::of("/api/auth/login"));
        assert_eq!(answer.len(), SecurityHeaders::MOST);
        let mut answer = HeaderMap::new();
        headers.apply(&mut answer, &RequestPath::of("/api/orders"));
        assert_eq!(
            answer.len(),
            SecurityHeaders::MOST - 1,
            "no-store only on auth routes"
        );
    }
}
