//! What every request passes through: its span, its trace context, its metrics and the
//! security headers of its answer. One layer rather than one per concern, and a tower layer
//! of its own rather than `middleware::from_fn`: that one boxes the route and the future of
//! every request (three allocations and a clone of the route, a few % of a cached read).
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use orderflow_core::TraceParent;
use orderflow_telemetry::Metrics;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::security_headers::{RequestPath, SecurityHeaders};
use crate::trace_context;

/// A header map for an answer whose handler sets `own` headers, with room for those the edge
/// adds on the way out (the trace context and the security headers; CORS aside), so the map
/// is not grown then: an empty map grows once it holds six, which an answer with two headers
/// of its own does (callgrind: about 640 instructions of a cached order read).
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
        request.extensions_mut().insert(trace.clone());
        EdgeFuture {
            inner: self.inner.call(request).instrument(span.clone()),
            finish: Some(Finish {
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

fn route_name(route: Option<&MatchedPath>) -> &str {
    route.map_or("unmatched", MatchedPath::as_str)
}

/// What the answer needs of its request.
struct Finish {
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
        #[pin]
        inner: Instrumented<F>,
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
        let Ok(mut response) = ready!(this.inner.poll(cx));
        if let Some(finish) = this.finish.take() {
            finish.answer(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}
