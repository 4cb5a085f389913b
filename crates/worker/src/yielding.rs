//! The relay and worker in the same process as the API (`orderflow serve`) give the cores to
//! requests first. A placed order is safe in the store the moment it is placed, and its
//! publishing and processing can wait; its client cannot. On a few cores, a worker running
//! flat out beside a request flood takes half of them and slows every placement, whatever its
//! threads' priorities: each of a request's wake-ups waits behind the worker's threads, and
//! the relay's and worker's writes double the rows the one SQLite writer writes per order.
//! So while requests keep the process busy, each takes one batch a turn and no more; the
//! backlog is published and processed at full speed once the flood ends. Kept for the
//! placement-with-the-worker target (docs/BENCHMARKS.md).
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orderflow_telemetry::Metrics;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// When background work yields to the requests of its process, and what it keeps doing
/// meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YieldToRequests {
    /// Requests in flight, on average over about 20 ms, from which the process counts as
    /// busy with them.
    pub at_requests: usize,
    /// While it is, the work takes one batch of at most `batch` per turn: the least it keeps
    /// doing, so that a flood that never ends still sees its orders published and processed.
    pub turn: Duration,
    pub batch: u32,
}

impl Default for YieldToRequests {
    fn default() -> Self {
        Self {
            at_requests: 8,
            turn: Duration::from_millis(20),
            batch: 10,
        }
    }
}

/// How often yielding work looks at the requests again.
const LOOK_AGAIN: Duration = Duration::from_millis(2);

/// How long the requests in flight are averaged over. Requests are counted from when the
/// API reads them until their answer is out, so the count jumps: a flood that keeps the
/// cores busy leaves most of its requests unread in their connections for moments, the
/// count low, and a moderate load has moments of many, after a stall of a few
/// milliseconds. Yielding on either moment's count would let a flood's placements wait
/// behind the worker, or hold a moderate load's orders in the outbox for tens of
/// milliseconds.
const SMOOTHING: Duration = Duration::from_millis(20);

/// The most one look at the requests moves their average: however long since the last one,
/// a moment's count is only a quarter of it.
const MOST_WEIGHT: f64 = 0.25;

/// The turns of one kind of background work while it yields.
pub(crate) struct Yielding {
    policy: YieldToRequests,
    metrics: Arc<Metrics>,
    /// The work's name in `orderflow_background_yielded_seconds_total`.
    work: &'static str,
    /// When the next batch may start while requests are many. Held by the one task waiting
    /// for it, so that one task, not all, watches the requests.
    next_turn: tokio::sync::Mutex<Instant>,
    requests: Mutex<AverageRequests>,
}

/// The requests in flight, averaged over about [`SMOOTHING`] as of `at` (`None`: before
/// the first look).
struct AverageRequests {
    average: f64,
    at: Option<Instant>,
}

impl Yielding {
    pub(crate) fn new(policy: YieldToRequests, metrics: Arc<Metrics>, work: &'static str) -> Self {
        Self {
            policy,
            metrics,
            work,
            next_turn: tokio::sync::Mutex::new(Instant::now()),
            requests: Mutex::new(AverageRequests {
                average: 0.0,
                at: None,
            }),
        }
    }

    /// Whether the requests in flight, on average, are as many as the policy's.
    fn busy(&self) -> bool {
        let now_in_flight = self.metrics.requests_in_flight() as f64;
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let weight = requests.at.map_or(MOST_WEIGHT, |at| {
            let since = now.duration_since(at).as_secs_f64();
            (1.0 - (-since / SMOOTHING.as_secs_f64()).exp()).min(MOST_WEIGHT)
        });
        requests.average += (now_in_flight - requests.average) * weight;
        requests.at = Some(now);
        requests.average >= self.policy.at_requests as f64
    }

    /// Returns when the next batch may start, and how large it may be: at once and as large
    /// as the work likes while the requests are few; while they are many, at the work's next
    /// turn (or at shutdown), and at most the policy's batch.
    pub(crate) async fn wait_turn(&self, shutdown: &CancellationToken) -> u32 {
        if !self.busy() {
            return u32::MAX;
        }
        let mut next_turn = self.next_turn.lock().await;
        while self.busy() {
            let now = Instant::now();
            if now >= *next_turn {
                *next_turn = now + self.policy.turn;
                return self.policy.batch;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(LOOK_AGAIN.min(*next_turn - now)) => {}
            }
            self.metrics.yielded(self.work, now.elapsed());
        }
        u32::MAX
    }
}
