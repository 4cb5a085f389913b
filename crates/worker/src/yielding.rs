//! The relay and worker in the same process as the API (`orderflow serve`) give the cores to
//! requests first. A placed order is safe in the store the moment it is placed, and its
//! publishing and processing can wait; its client cannot. On a few cores, a worker running
//! flat out beside a request flood takes half of them and slows every placement, whatever its
//! threads' priorities: each of a request's wake-ups waits behind the worker's threads, and
//! the relay's and worker's writes double the rows the one SQLite writer writes per order.
//! So while requests keep the process busy, each takes one batch a turn and no more; the
//! backlog is published and processed at full speed once the flood ends.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use orderflow_telemetry::Metrics;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// When background work yields to the requests of its process, and what it keeps doing
/// meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YieldToRequests {
    /// Requests in flight from which the process counts as busy with them.
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

/// How long the requests count as many after they were last seen so: how late, at most,
/// yielding work notices that they are gone. Requests in flight are counted from when the
/// API reads them until their answer is out, so a flood that keeps the cores busy can leave
/// most of them unread in their connections for a moment, the count low, and the process no
/// less busy.
const LINGER: Duration = Duration::from_millis(50);

/// The turns of one kind of background work while it yields.
pub(crate) struct Yielding {
    policy: YieldToRequests,
    metrics: Arc<Metrics>,
    /// The work's name in `orderflow_background_yielded_seconds_total`.
    work: &'static str,
    /// When the next batch may start while requests are many. Held by the one task waiting
    /// for it, so that one task, not all, watches the requests.
    next_turn: tokio::sync::Mutex<Instant>,
    /// When requests were last seen many, in milliseconds since `epoch` (0: never).
    many_seen_at: AtomicU64,
    epoch: Instant,
}

impl Yielding {
    pub(crate) fn new(policy: YieldToRequests, metrics: Arc<Metrics>, work: &'static str) -> Self {
        Self {
            policy,
            metrics,
            work,
            next_turn: tokio::sync::Mutex::new(Instant::now()),
            many_seen_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Whether requests are many now or were within the last [`LINGER`].
    fn busy(&self) -> bool {
        // Counted from 1, so that 0 stands for never.
        let now = u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if self.metrics.requests_in_flight() >= self.policy.at_requests {
            self.many_seen_at.store(now, Ordering::Relaxed);
            return true;
        }
        let seen = self.many_seen_at.load(Ordering::Relaxed);
        seen != 0 && now.saturating_sub(seen) < LINGER.as_millis() as u64
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
