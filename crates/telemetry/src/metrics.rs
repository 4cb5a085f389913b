use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::LocalKey;
use std::time::Duration;

use hashbrown::{Equivalent, HashMap};

use orderflow_core::ports::{EmailOutcome, PipelineObserver, QueueDepth};
use orderflow_core::{Order, OrderStatus};
use prometheus::core::Collector;
use prometheus::{
    CounterVec, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds, from a cached read to a slow dependency.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Placed-to-final and message-age buckets: milliseconds to an hour.
const PIPELINE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// A `/metrics` answer: `registry` in the Prometheus text format, with its content type, as
/// HTTP frameworks take a response (headers, body). Every process serves it this way.
pub fn exposition(registry: &Registry) -> ([(&'static str, &'static str); 1], String) {
    let mut buffer = Vec::new();
    // Encoding gathered families into memory cannot fail.
    let _ = TextEncoder::new().encode(&registry.gather(), &mut buffer);
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        String::from_utf8(buffer).unwrap_or_default(),
    )
}

/// Why a placement was refused: the label values of `orderflow_orders_rejected_total`.
pub const REJECTION_REASONS: &[&str] = &[
    "invalid",
    "insufficient_stock",
    "idempotency_key_reused",
    "catalog_busy",
    "unavailable",
    "other",
];

/// Every metric the API and worker export, on one registry. Label values are bounded:
/// routes are templates, statuses and reasons are fixed sets.
#[derive(Clone)]
pub struct Metrics {
    /// Tells this registry's series apart from another's in [`COUNTERS`] and [`HISTOGRAMS`].
    id: u64,
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    http_in_flight: IntGauge,
    orders_placed: IntCounter,
    orders_rejected: IntCounterVec,
    orders_processed: IntCounterVec,
    end_to_end: HistogramVec,
    processing_duration: Histogram,
    received: IntCounter,
    deleted: IntCounter,
    dead_lettered: IntCounter,
    store_retries: IntCounter,
    waiting_for_store: IntGauge,
    yielded: CounterVec,
    message_age: Histogram,
    queue_messages: IntGaugeVec,
    outbox_backlog: IntGauge,
    email_backlog: IntGauge,
    /// `orderflow_cache_requests_total`'s two series, resolved once: every cached read
    /// counts one, and a label lookup per read showed in its profile.
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    cache_errors: IntCounter,
    emails: IntCounterVec,
    dependency_duration: HistogramVec,
}

/// Registers `metric` with `registry` and hands it back.
fn registered<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    registered(
        registry,
        IntCounter::new(name, help).expect("metric names here are valid"),
    )
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    registered(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    registered(registry, IntGauge::new(name, help).expect("valid metric"))
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    registered(
        registry,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    registered(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
            labels,
        )
        .expect("valid metric"),
    )
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: &[f64]) -> Histogram {
    registered(
        registry,
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
            .expect("valid metric"),
    )
}

static NEXT_METRICS_ID: AtomicU64 = AtomicU64::new(0);

/// The labelled families whose series are resolved once per thread (see [`COUNTERS`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    HttpRequests,
    HttpDuration,
    DependencyDuration,
}

thread_local! {
    /// The series of the families counted on every request and every dependency call, as
    /// each thread resolved them, by registry, family and label values: resolving them
    /// through the vector each time (hashing the labels, a shared lock and a reference
    /// count touched by both cores) was a few % of a cached read. Bounded, as the labels
    /// are: methods, route templates, status classes, dependencies and operations.
    static COUNTERS: RefCell<HashMap<SeriesKey, IntCounter>> = RefCell::new(HashMap::new());
    static HISTOGRAMS: RefCell<HashMap<SeriesKey, Histogram>> = RefCell::new(HashMap::new());
}

#[derive(PartialEq, Eq)]
struct SeriesKey {
    metrics: u64,
    family: Family,
    labels: Box<[Box<str>]>,
}

/// A series' labels as a call has them, looked up without copying.
struct SeriesRef<'a> {
    metrics: u64,
    family: Family,
    labels: &'a [&'a str],
}

fn hash_series<'a, H: Hasher>(
    state: &mut H,
    metrics: u64,
    family: Family,
    labels: impl Iterator<Item = &'a str>,
) {
    (metrics, family).hash(state);
    for label in labels {
        label.hash(state);
    }
}

// Both key types hash the same fields the same way, as `Equivalent` requires.
impl Hash for SeriesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let labels = self.labels.iter().map(|label| &**label);
        hash_series(state, self.metrics, self.family, labels);
    }
}

impl Hash for SeriesRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_series(
            state,
            self.metrics,
            self.family,
            self.labels.iter().copied(),
        );
    }
}

impl Equivalent<SeriesKey> for SeriesRef<'_> {
    fn equivalent(&self, key: &SeriesKey) -> bool {
        self.metrics == key.metrics
            && self.family == key.family
            && self.labels.len() == key.labels.len()
            && self.labels.iter().zip(&key.labels).all(|(a, b)| *a == &**b)
    }
}

/// Runs `record` on the series `key` names, resolving it with `resolve` the first time this
/// thread meets it.
fn memoized<M>(
    memo: &'static LocalKey<RefCell<HashMap<SeriesKey, M>>>,
    key: &SeriesRef<'_>,
    resolve: impl FnOnce() -> M,
    record: impl FnOnce(&M),
) {
    memo.with_borrow_mut(|known| match known.get(key) {
        Some(series) => record(series),
        None => {
            let series = resolve();
            record(&series);
            let labels = key.labels.iter().map(|&label| label.into()).collect();
            let owned = SeriesKey {
                metrics: key.metrics,
                family: key.family,
                labels,
            };
            known.insert(owned, series);
        }
    });
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let build_info = gauge_vec(
            &registry,
            "orderflow_build_info",
            "The running orderflow version; always 1",
            &["version"],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let cache_requests = counter_vec(
            &registry,
            "orderflow_cache_requests_total",
            "Order reads by cache result (hit, miss)",
            &["result"],
        );
        let metrics = Self {
            id: NEXT_METRICS_ID.fetch_add(1, Ordering::Relaxed),
            http_requests: counter_vec(
                &registry,
                "orderflow_http_requests_total",
                "HTTP requests answered, by method, route template and status class",
                &["method", "route", "status_class"],
            ),
            http_duration: histogram_vec(
                &registry,
                "orderflow_http_request_duration_seconds",
                "Time to answer an HTTP request, by method and route template",
                &["method", "route"],
                LATENCY_BUCKETS,
            ),
            http_in_flight: gauge(
                &registry,
                "orderflow_http_requests_in_flight",
                "HTTP requests being handled (until their answer's head; a streamed body is not counted)",
            ),
            orders_placed: counter(&registry, "orderflow_orders_placed_total", "Orders placed"),
            orders_rejected: counter_vec(
                &registry,
                "orderflow_orders_rejected_total",
                "Order placements refused, by reason",
                &["reason"],
            ),
            orders_processed: counter_vec(
                &registry,
                "orderflow_orders_processed_total",
                "Orders that reached a final status, by outcome (processed, failed, cancelled)",
                &["outcome"],
            ),
            end_to_end: histogram_vec(
                &registry,
                "orderflow_order_end_to_end_duration_seconds",
                "Time from placement to a final status, by outcome",
                &["outcome"],
                PIPELINE_BUCKETS,
            ),
            processing_duration: histogram(
                &registry,
                "orderflow_order_processing_duration_seconds",
                "Time a worker spent on one delivery of an order's message",
                LATENCY_BUCKETS,
            ),
            received: counter(
                &registry,
                "orderflow_queue_messages_received_total",
                "Messages received from the order queue",
            ),
            deleted: counter(
                &registry,
                "orderflow_queue_messages_deleted_total",
                "Messages deleted from the order queue after processing",
            ),
            dead_lettered: counter(
                &registry,
                "orderflow_queue_dead_lettered_total",
                "Messages left to the dead-letter queue after their last delivery",
            ),
            store_retries: counter(
                &registry,
                "orderflow_worker_store_retries_total",
                "Orders tried again in place because the store could not be used",
            ),
            waiting_for_store: gauge(
                &registry,
                "orderflow_worker_orders_waiting_for_store",
                "Orders a worker holds, their messages kept hidden, until the store can be used again",
            ),
            yielded: registered(
                &registry,
                CounterVec::new(
                    Opts::new(
                        "orderflow_background_yielded_seconds_total",
                        "Time the relay and worker of `serve` held off because requests kept the process busy, by work (relay, worker)",
                    ),
                    &["work"],
                )
                .expect("valid metric"),
            ),
            message_age: histogram(
                &registry,
                "orderflow_queue_message_age_seconds",
                "Age of a message when received (time since it was sent)",
                PIPELINE_BUCKETS,
            ),
            queue_messages: gauge_vec(
                &registry,
                "orderflow_queue_messages",
                "Messages in the order queue by state (visible, in_flight, dead_lettered), as last sampled",
                &["state"],
            ),
            outbox_backlog: gauge(
                &registry,
                "orderflow_outbox_backlog",
                "Outbox entries not yet published to the queue, as last sampled",
            ),
            email_backlog: gauge(
                &registry,
                "orderflow_email_backlog",
                "Order emails recorded and not yet sent or given up on, as last sampled",
            ),
            cache_hits: cache_requests.with_label_values(&["hit"]),
            cache_misses: cache_requests.with_label_values(&["miss"]),
            cache_errors: counter(
                &registry,
                "orderflow_cache_errors_total",
                "Cache reads and writes that failed (the store answered)",
            ),
            emails: counter_vec(
                &registry,
                "orderflow_emails_total",
                "Order email sends by outcome (sent, rejected, retried, failed: given up)",
                &["outcome"],
            ),
            dependency_duration: histogram_vec(
                &registry,
                "orderflow_dependency_operation_duration_seconds",
                "Calls to the store, cache, queue and mail service by operation and outcome",
                &["dependency", "system", "operation", "outcome"],
                LATENCY_BUCKETS,
            ),
            registry,
        };
        // Zeros from the start, so rates and alerts see the series before the first event.
        for outcome in ["processed", "failed", "cancelled"] {
            metrics.orders_processed.with_label_values(&[outcome]);
        }
        for reason in REJECTION_REASONS {
            metrics.orders_rejected.with_label_values(&[reason]);
        }
        for outcome in ["sent", "rejected", "retried", "failed"] {
            metrics.emails.with_label_values(&[outcome]);
        }
        for state in ["visible", "in_flight", "dead_lettered"] {
            metrics.queue_messages.with_label_values(&[state]);
        }
        for work in ["relay", "worker"] {
            metrics.yielded.with_label_values(&[work]);
        }
        metrics
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16, took: Duration) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.inc(
            Family::HttpRequests,
            &self.http_requests,
            &[method, route, class],
        );
        self.observe(
            Family::HttpDuration,
            &self.http_duration,
            &[method, route],
            took,
        );
    }

    fn series<'a>(&self, family: Family, labels: &'a [&'a str]) -> SeriesRef<'a> {
        SeriesRef {
            metrics: self.id,
            family,
            labels,
        }
    }

    fn inc(&self, family: Family, vec: &IntCounterVec, labels: &[&str]) {
        let key = self.series(family, labels);
        memoized(
            &COUNTERS,
            &key,
            || vec.with_label_values(labels),
            IntCounter::inc,
        );
    }

    fn observe(&self, family: Family, vec: &HistogramVec, labels: &[&str], took: Duration) {
        let key = self.series(family, labels);
        let record = |series: &Histogram| series.observe(took.as_secs_f64());
        memoized(&HISTOGRAMS, &key, || vec.with_label_values(labels), record);
    }

    pub fn order_placed(&self) {
        self.orders_placed.inc();
    }

    /// `reason` is one of a fixed set (invalid, insufficient_stock, ...).
    pub fn order_rejected(&self, reason: &'static str) {
        self.orders_rejected.with_label_values(&[reason]).inc();
    }

    pub fn cache_read(&self, hit: bool) {
        if hit {
            self.cache_hits.inc();
        } else {
            self.cache_misses.inc();
        }
    }

    pub fn message_received(&self, age: Duration) {
        self.received.inc();
        self.message_age.observe(age.as_secs_f64());
    }

    pub fn messages_deleted(&self, count: u64) {
        self.deleted.inc_by(count);
    }

    pub fn message_dead_lettered(&self) {
        self.dead_lettered.inc();
    }

    /// An order found the store unavailable and waits to be tried again in place; the
    /// returned guard counts it as waiting until it is dropped, however its delivery ends.
    pub fn store_unavailable(&self) -> Held {
        Held::new(&self.waiting_for_store)
    }

    /// One more try of an order that found the store unavailable.
    pub fn store_retried(&self) {
        self.store_retries.inc();
    }

    /// A request has come in; the returned guard counts it in flight until it is dropped,
    /// when its answer's head is out or the request is dropped unanswered.
    pub fn request_started(&self) -> Held {
        Held::new(&self.http_in_flight)
    }

    /// The HTTP requests this process is handling now.
    pub fn requests_in_flight(&self) -> usize {
        usize::try_from(self.http_in_flight.get()).unwrap_or(0)
    }

    /// Background `work` (relay, worker) held off for `took` while requests had the cores.
    pub fn yielded(&self, work: &str, took: Duration) {
        self.yielded
            .with_label_values(&[work])
            .inc_by(took.as_secs_f64());
    }

    pub fn delivery_handled(&self, took: Duration) {
        self.processing_duration.observe(took.as_secs_f64());
    }

    pub fn queue_depth(&self, depth: QueueDepth) {
        let set = |state: &str, value: u64| {
            self.queue_messages
                .with_label_values(&[state])
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set("visible", depth.visible);
        set("in_flight", depth.in_flight);
        set("dead_lettered", depth.dead_lettered);
    }

    /// One call to a dependency. `dependency` (store, cache, queue, mail), `system` and
    /// `operation` come from fixed sets in the instrumented adapters; `outcome` is ok or error.
    pub fn dependency_call(
        &self,
        dependency: &str,
        system: &str,
        operation: &str,
        outcome: &str,
        took: Duration,
    ) {
        self.observe(
            Family::DependencyDuration,
            &self.dependency_duration,
            &[dependency, system, operation, outcome],
            took,
        );
    }

    pub fn outbox_backlog(&self, entries: u64) {
        self.outbox_backlog
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    pub fn email_backlog(&self, emails: u64) {
        self.email_backlog
            .set(i64::try_from(emails).unwrap_or(i64::MAX));
    }
}

/// One counted in a gauge (a request in flight, an order waiting for the store) while this
/// lives, so that every way out of what it counts takes it off again.
#[must_use = "it counts only while the guard lives"]
pub struct Held(IntGauge);

impl Held {
    fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl PipelineObserver for Metrics {
    fn status_changed(&self, order: &Order) {
        let outcome = match order.status {
            OrderStatus::Processed => "processed",
            OrderStatus::Failed => "failed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Pending | OrderStatus::Processing => return,
        };
        self.orders_processed.with_label_values(&[outcome]).inc();
        let took = (order.updated_at - order.created_at)
            .as_seconds_f64()
            .max(0.0);
        self.end_to_end.with_label_values(&[outcome]).observe(took);
    }

    fn email(&self, outcome: EmailOutcome) {
        let outcome = match outcome {
            EmailOutcome::Sent => "sent",
            EmailOutcome::Rejected => "rejected",
            EmailOutcome::Retried => "retried",
            EmailOutcome::Failed => "failed",
        };
        self.emails.with_label_values(&[outcome]).inc();
    }

    fn cache_failed(&self) {
        self.cache_errors.inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Whether `metrics` exports `series` with the value `n`.
    fn exports(metrics: &Metrics, series: &str, n: u32) -> bool {
        exposition(metrics.registry())
            .1
            .contains(&format!("{series} {n}\n"))
    }

    fn requests(method: &str, route: &str, class: &str) -> String {
        format!(
            "orderflow_http_requests_total{{method=\"{method}\",route=\"{route}\",status_class=\"{class}\"}}"
        )
    }

    #[test]
    fn each_request_counts_in_its_own_registry_and_series() {
        let first = Metrics::new();
        let second = Metrics::new();
        first.http_request("GET", "/api/orders/{id}", 200, MS);
        first.http_request("GET", "/api/orders/{id}", 200, MS);
        first.http_request("GET", "/api/orders/{id}", 404, MS);
        second.http_request("POST", "/api/orders", 201, MS);
        second.http_request("GET", "/api/orders/{id}", 200, MS);

        let read = "orderflow_http_request_duration_seconds_count{method=\"GET\",route=\"/api/orders/{id}\"}";
        assert!(exports(
            &first,
            &requests("GET", "/api/orders/{id}", "2xx"),
            2
        ));
        assert!(exports(
            &first,
            &requests("GET", "/api/orders/{id}", "4xx"),
            1
        ));
        assert!(exports(&first, read, 3));
        assert!(!exports(&first, &requests("POST", "/api/orders", "2xx"), 1));
        assert!(exports(&second, &requests("POST", "/api/orders", "2xx"), 1));
        assert!(exports(
            &second,
            &requests("GET", "/api/orders/{id}", "2xx"),
            1
        ));
        assert!(exports(&second, read, 1));
    }

    #[test]
    fn each_dependency_call_is_timed_in_its_own_series() {
        let first = Metrics::new();
        let second = Metrics::new();
        first.dependency_call("cache", "redis", "get", "ok", MS);
        first.dependency_call("cache", "redis", "get", "ok", MS);
        first.dependency_call("cache", "redis", "get", "error", MS);
        second.dependency_call("store", "sqlite", "get", "ok", MS);

        let calls = |dependency: &str, outcome: &str, system: &str| {
            format!(
                "orderflow_dependency_operation_duration_seconds_count{{dependency=\"{dependency}\",operation=\"get\",outcome=\"{outcome}\",system=\"{system}\"}}"
            )
        };
        assert!(exports(&first, &calls("cache", "ok", "redis"), 2));
        assert!(exports(&first, &calls("cache", "error", "redis"), 1));
        assert!(!exports(&first, &calls("store", "ok", "sqlite"), 1));
        assert!(exports(&second, &calls("store", "ok", "sqlite"), 1));
        assert!(!exports(&second, &calls("cache", "ok", "redis"), 2));
    }

    #[test]
    fn cache_reads_count_hits_and_misses_apart() {
        let metrics = Metrics::new();
        metrics.cache_read(true);
        metrics.cache_read(true);
        metrics.cache_read(false);
        assert!(exports(
            &metrics,
            "orderflow_cache_requests_total{result=\"hit\"}",
            2
        ));
        assert!(exports(
            &metrics,
            "orderflow_cache_requests_total{result=\"miss\"}",
            1
        ));
    }
}
