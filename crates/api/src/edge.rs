//! What every request passes through: its span, its trace context, its metrics, the
//! security headers of its answer, and a 500 for a handler that panics. Hand-written, one
//! layer rather than one per concern (tower-http's): each layer on the router boxes every
//! route and every request's future again, which the cached reads' target measured
//! (docs/BENCHMARKS.md).
use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use orderflow_core::TraceParent;
use orderflow_telemetry::{Held, Metrics};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::problem::Problem;
use crate::request_context::RequestContext;
use crate::security_headers::{RequestPath, SecurityHeaders};
use crate::trace_context;

/// A header map for an answer whose handler sets `own` headers, with room for those the edge
/// adds on the way out (the trace context and the security headers; CORS aside), so the map
/// is not grown on the hot path of cached reads (docs/BENCHMARKS.md).
pub(crate) fn answer_headers(own: usize) -> HeaderMap {
    HeaderMap::with_capacity(own + 1 + SecurityHeaders::MOST)
}

pub(crate) struct Edge {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) headers: SecurityHeaders,
}

#[derive(Clone)]
pub(crate) struct EdgeLayer(pub(crate) Arc<Edge>);

impl<S> Layer<S> for EdgeLayer {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> EdgeService<S> {
        EdgeService {
            inner,
            edge: Arc::clone(&self.0),
        }
    }
}

#[derive(Clone)]
pub(crate) struct EdgeService<S> {
    inner: S,
    edge: Arc<Edge>,
}

impl<S> Service<Request> for EdgeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let method = request.method().clone();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let (span, trace) = trace_context::of_request(&request, route_name(route.as_ref()));
        let path = RequestPath::of(request.uri().path());
        RequestContext::set_trace(request.extensions_mut(), trace);
        // A route that panics, here or in its future, is answered with a 500 (in `poll`).
        let inner = catch_unwind(AssertUnwindSafe(|| self.inner.call(request)))
            .ok()
            .map(|future| future.instrument(span.clone()));
        EdgeFuture {
            inner,
            finish: Some(Finish {
                _in_flight: self.edge.metrics.request_started(),
                edge: Arc::clone(&self.edge),
                started,
                method,
                route,
                path,
                trace,
                span,
            }),
        }
    }
}

/// The answer to a request whose handler panicked.
pub(crate) fn panicked() -> Response {
    Problem::internal(&"a request handler panicked").into_response_owned()
}

fn route_name(route: Option<&MatchedPath>) -> &str {
    route.map_or("unmatched", MatchedPath::as_str)
}

/// What the answer needs of its request.
struct Finish {
    /// Counts the request in flight until its answer's head is out, or until it is dropped
    /// unanswered: the relay and worker of `serve` yield to requests (see the worker crate's
    /// `Yielding`).
    _in_flight: Held,
    edge: Arc<Edge>,
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
    path: RequestPath,
    trace: TraceParent,
    span: tracing::Span,
}

impl Finish {
    fn answer(self, response: &mut Response) {
        let status = response.status();
        let took = self.started.elapsed();
        let route = route_name(self.route.as_ref());
        let headers = response.headers_mut();
        trace_context::answer(&self.trace, headers);
        self.edge.headers.apply(headers, &self.path);
        self.edge
            .metrics
            .http_request(self.method.as_str(), route, status.as_u16(), took);
        self.span.in_scope(|| {
            if status.is_server_error() {
                tracing::error!(status = status.as_u16(), latency = ?took, "request failed");
            } else {
                tracing::debug!(status = status.as_u16(), latency = ?took, "request finished");
            }
        });
    }
}

pin_project_lite::pin_project! {
    pub(crate) struct EdgeFuture<F> {
        // None when the route panicked before it had a future.
        #[pin]
        inner: Option<Instrumented<F>>,
        finish: Option<Finish>,
    }
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = this
            .inner
            .as_pin_mut()
            .and_then(|inner| catch_unwind(AssertUnwindSafe(|| inner.poll(cx))).ok());
        let mut response = match polled {
            Some(poll) => {
                let Ok(response) = ready!(poll);
                response
            }
            None => panicked(),
        };
        if let Some(finish) = this.finish.take() {
            finish.answer(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{StatusCode, header};
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    /// The answer to `GET path` from `app` under the edge, and what the edge counted.
    async fn through_the_edge(app: Router, path: &str) -> (Response, String) {
        let metrics = Arc::new(Metrics::new());
        let edge = Arc::new(Edge {
            metrics: Arc::clone(&metrics),
            headers: SecurityHeaders::new(None),
        });
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.layer(EdgeLayer(edge)).oneshot(request).await.unwrap();
        let (_, counted) = orderflow_telemetry::exposition(metrics.registry());
        (response, counted)
    }

    fn assert_answered_as_a_failure(response: &Response, counted: &str, route: &str) {
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(headers.contains_key("traceresponse"), "{headers:?}");
        let series = format!(
            "orderflow_http_requests_total{{method=\"GET\",route=\"{route}\",status_class=\"5xx\"}} 1"
        );
        assert!(counted.contains(&series), "no {series} in\n{counted}");
    }

    #[tokio::test]
    async fn a_request_counts_in_flight_until_it_is_answered_or_dropped_unanswered() {
        let metrics = Arc::new(Metrics::new());
        let edge = Arc::new(Edge {
            metrics: Arc::clone(&metrics),
            headers: SecurityHeaders::new(None),
        });
        let seen_by_the_handler = Arc::clone(&metrics);
        let app = Router::new()
            .route(
                "/count",
                get(move || async move { seen_by_the_handler.requests_in_flight().to_string() }),
            )
            .route("/never", get(std::future::pending::<&'static str>))
            .layer(EdgeLayer(edge));

        let request = Request::get("/count").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], b"1", "the request itself, while it was handled");
        assert_eq!(metrics.requests_in_flight(), 0, "answered");

        let request = Request::get("/never").body(Body::empty()).unwrap();
        let mut unanswered = Box::pin(app.oneshot(request));
        let still_waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), &mut unanswered).await;
        assert!(still_waiting.is_err());
        assert_eq!(metrics.requests_in_flight(), 1);
        drop(unanswered);
        assert_eq!(
            metrics.requests_in_flight(),
            0,
            "dropped, as by a client gone"
        );
    }

    #[tokio::test]
    async fn a_handler_that_panics_is_answered_500_with_the_headers_and_counted() {
        async fn panics() -> &'static str {
            panic!("a handler bug")
        }
        let app = Router::new().route("/boom", get(panics));
        let (response, counted) = through_the_edge(app, "/boom").await;
        assert_answered_as_a_failure(&response, &counted, "/boom");
    }

    #[tokio::test]
    async fn a_route_that_panics_before_it_has_a_future_is_answered_the_same() {
        let panics_when_called = tower::service_fn(
            |_: Request| -> std::future::Ready<Result<Response, Infallible>> {
                panic!("a service bug")
            },
        );
        let app = Router::new().route_service("/boom", panics_when_called);
        let (response, counted) = through_the_edge(app, "/boom").await;
        assert_answered_as_a_failure(&response, &counted, "/boom");
    }
}
