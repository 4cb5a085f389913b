//! The time a client gets to send each request head, without a timer per request.
//!
//! hyper's header read timeout asks its timer for a new sleep at every request head and drops
//! it once the head is read, so on a keep-alive connection each request registered a timer
//! with tokio and removed it again, a measurable share of a cached read
//! (docs/BENCHMARKS.md). Here hyper's sleeps only note their deadline in the connection's
//! [`HeadDeadline`]; one tokio sleep per connection, polled beside the connection by
//! [`HeadDeadline::watch`], wakes the connection when the noted deadline is due. That sleep is
//! moved only when it fires before the deadline now noted (about once per timeout on a busy
//! connection), or when a deadline earlier than its own is noted.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Sleep, Timer};
// tokio's clock, which hyper's is converted to, so tests can pause it.
use tokio::time::Instant;

/// One connection's pending head deadline, shared by hyper's sleeps and the watch.
#[derive(Clone)]
pub(crate) struct HeadDeadline(Arc<Noted>);

struct Noted {
    /// Deadlines are kept as nanoseconds after this instant, so they fit an atomic.
    since: Instant,
    /// The deadline of the head being read, plus one; 0 while no head is being read.
    at: AtomicU64,
}

impl HeadDeadline {
    pub(crate) fn new() -> Self {
        Self(Arc::new(Noted {
            since: Instant::now(),
            at: AtomicU64::new(0),
        }))
    }

    fn encode(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.0.since).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    fn noted(&self) -> Option<Instant> {
        match self.0.at.load(Ordering::Acquire) {
            0 => None,
            at => Some(self.0.since + Duration::from_nanos(at - 1)),
        }
    }

    /// Wakes the connection's task when a noted deadline is due; never completes. Poll it in
    /// the connection's task, after the connection, so it sees the deadline noted in the
    /// same round (`tokio::select!` with `biased`).
    pub(crate) fn watch(&self) -> Watch {
        Watch {
            deadline: self.clone(),
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed_for: None,
        }
    }
}

/// hyper's [`Timer`] for one connection: each sleep notes its deadline in the connection's
/// [`HeadDeadline`] while it is pending.
impl Timer for HeadDeadline {
    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(self.now() + duration)
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn Sleep>> {
        let deadline = Instant::from_std(deadline);
        Box::pin(HeadSleep {
            noted: self.clone(),
            at: self.encode(deadline),
            deadline,
        })
    }
}

struct HeadSleep {
    noted: HeadDeadline,
    at: u64,
    deadline: Instant,
}

impl Sleep for HeadSleep {}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        // The connection's watch, polled next in the same task, wakes it when this is due.
        self.noted.0.at.store(self.at, Ordering::Release);
        Poll::Pending
    }
}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        // Unless a later head noted its own deadline meanwhile.
        let _ = self
            .noted
            .0
            .at
            .compare_exchange(self.at, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// See [`HeadDeadline::watch`].
pub(crate) struct Watch {
    deadline: HeadDeadline,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The deadline `sleep` is set to, while it has not fired.
    armed_for: Option<Instant>,
}

impl Future for Watch {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(due) = self.deadline.noted() else {
            return Poll::Pending;
        };
        if self.armed_for.is_none_or(|armed| armed > due) {
            self.sleep.as_mut().reset(due);
            self.armed_for = Some(due);
        }
        while self.sleep.as_mut().poll(cx).is_ready() {
            // Fired: the head's sleep sees it is due when the connection is polled, which
            // this wake-up does. A deadline noted since then is still ahead: wait for it.
            self.armed_for = None;
            match self.deadline.noted() {
                Some(later) if later > Instant::now() => {
                    self.sleep.as_mut().reset(later);
                    self.armed_for = Some(later);
                }
                _ => break,
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head's sleep of `seconds`, polled once: pending, its deadline noted.
    async fn pending_head(deadline: &HeadDeadline, seconds: u64) -> Pin<Box<dyn Sleep>> {
        let mut head = deadline.sleep(Duration::from_secs(seconds));
        assert!(futures::poll!(head.as_mut()).is_pending());
        head
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_head_sleep_is_woken_through_the_watch_when_due() {
        let deadline = HeadDeadline::new();
        let mut head = deadline.sleep(Duration::from_secs(10));
        let watch = deadline.watch();
        tokio::pin!(watch);
        let started = tokio::time::Instant::now();
        let timed_out = async {
            tokio::select! {
                biased;
                () = &mut head => {}
                () = &mut watch => unreachable!("the watch never completes"),
            }
        };
        tokio::time::timeout(Duration::from_secs(60), timed_out)
            .await
            .expect("the head's sleep became ready");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
            "ready after {waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_head_leaves_nothing_to_watch() {
        let deadline = HeadDeadline::new();
        let mut watch = Box::pin(deadline.watch());
        {
            let _head = pending_head(&deadline, 1).await;
            assert!(
                deadline.noted().is_some(),
                "a pending head notes its deadline"
            );
        }
        assert!(
            deadline.noted().is_none(),
            "a dropped head takes its deadline back"
        );
        assert!(futures::poll!(watch.as_mut()).is_pending());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(
            futures::poll!(watch.as_mut()).is_pending(),
            "nothing is due once the head was read"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_watch_sleep_is_moved_only_when_it_fires_before_the_noted_deadline() {
        let deadline = HeadDeadline::new();
        let mut watch = Box::pin(deadline.watch());
        let first = pending_head(&deadline, 10).await;
        assert!(futures::poll!(watch.as_mut()).is_pending());
        let armed = watch.armed_for;
        drop(first);
        // The next head, a second later, notes a later deadline: the watch keeps its sleep.
        tokio::time::advance(Duration::from_secs(1)).await;
        let mut second = pending_head(&deadline, 10).await;
        assert!(futures::poll!(watch.as_mut()).is_pending());
        assert_eq!(watch.armed_for, armed, "not moved for a later deadline");
        // Its sleep fires at the first deadline and moves to the second.
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(futures::poll!(watch.as_mut()).is_pending());
        assert_eq!(
            watch.armed_for,
            deadline.noted(),
            "moved to the noted deadline"
        );
        assert!(futures::poll!(second.as_mut()).is_pending(), "not due yet");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(futures::poll!(second.as_mut()).is_ready(), "due");
    }
}
