//! Port decorators that give every call to a dependency (store, cache, queue, mail) a client
//! span with OpenTelemetry semantic-convention attributes and a duration in
//! `orderflow_dependency_operation_duration_seconds`, whichever adapter is behind the port.
mod cache;
mod mailer;
mod queue;
mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use orderflow_core::ports::{CacheError, MailError, QueueError, StoreError};
use tracing::Instrument;

pub use cache::InstrumentedCache;
pub use mailer::InstrumentedMailer;
pub use queue::InstrumentedQueue;
pub use store::InstrumentedStore;

use crate::Metrics;

/// A low-cardinality name for a failure: the span's `error.type` and nothing more.
trait ErrorType {
    fn error_type(&self) -> &'static str;
}

impl ErrorType for StoreError {
    fn error_type(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::Corrupt(_) => "corrupt",
        }
    }
}

impl ErrorType for CacheError {
    fn error_type(&self) -> &'static str {
        "unavailable"
    }
}

impl ErrorType for QueueError {
    fn error_type(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::StaleReceipt => "stale_receipt",
        }
    }
}

impl ErrorType for MailError {
    fn error_type(&self) -> &'static str {
        match self {
            Self::Transient(_) => "transient",
            Self::Rejected(_) => "rejected",
        }
    }
}

/// The span `make` builds, as a child of the work under way; none outside any (a
/// background loop's poll): an idle process would otherwise export a trace per poll, and
/// a busy one a trace per call, cut off from the work it served.
fn within_work(make: impl FnOnce() -> tracing::Span) -> tracing::Span {
    let within =
        tracing::dispatcher::get_default(|dispatch| dispatch.current_span().id().is_some());
    if within {
        make()
    } else {
        tracing::Span::none()
    }
}

/// One dependency of the process: what it is (`store`, `cache`, `queue`, `mail`), which
/// system serves it (`sqlite`, `mongodb`, `redis`, `aws_sqs`, ...), and where calls are timed.
#[derive(Clone)]
struct Dependency {
    kind: &'static str,
    system: &'static str,
    metrics: Arc<Metrics>,
}

impl Dependency {
    /// A database client span (`db.*` attributes): the store's and the cache's calls.
    fn db_span(&self, operation: &'static str) -> tracing::Span {
        within_work(|| {
            tracing::info_span!(
                "db",
                otel.name = operation,
                otel.kind = "client",
                orderflow.dependency = self.kind,
                db.system.name = self.system,
                db.operation.name = operation,
                error.type = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            )
        })
    }

    /// Runs `work` inside `span`, then records its outcome on the span and its duration.
    async fn call<T, E: ErrorType>(
        &self,
        operation: &'static str,
        span: tracing::Span,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = work.instrument(span.clone()).await;
        let failure = result.as_ref().err().map(ErrorType::error_type);
        self.record(operation, &span, failure, started);
        result
    }

    /// For calls answering one outcome per item (batch deletes): failed when any item did.
    async fn call_batch<T, E: ErrorType>(
        &self,
        operation: &'static str,
        span: tracing::Span,
        work: impl Future<Output = Vec<Result<T, E>>>,
    ) -> Vec<Result<T, E>> {
        let started = Instant::now();
        let results = work.instrument(span.clone()).await;
        let failure = results
            .iter()
            .find_map(|result| result.as_ref().err())
            .map(ErrorType::error_type);
        self.record(operation, &span, failure, started);
        results
    }

    fn record(
        &self,
        operation: &'static str,
        span: &tracing::Span,
        failure: Option<&'static str>,
        started: Instant,
    ) {
        if let Some(error_type) = failure {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", error_type);
        }
        let outcome = if failure.is_some() { "error" } else { "ok" };
        self.metrics.dependency_call(
            self.kind,
            self.system,
            operation,
            outcome,
            started.elapsed(),
        );
    }
}
