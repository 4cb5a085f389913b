use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts a dependency's failed calls and logs an outage once when it starts and once when
/// it ends, not once per request: a Redis outage under load would otherwise flood the logs.
#[derive(Debug)]
pub(crate) struct OutageLog {
    what: &'static str,
    failures: AtomicU64,
    /// Failures since the outage began; `None` while healthy.
    current: Mutex<Option<u64>>,
}

impl OutageLog {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            failures: AtomicU64::new(0),
            current: Mutex::new(None),
        }
    }

    /// Every failed call since start.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub(crate) fn failed(&self, error: &dyn std::fmt::Display) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut current = self.lock();
        match current.as_mut() {
            Some(count) => *count += 1,
            None => {
                *current = Some(1);
                tracing::warn!(dependency = self.what, %error,
                    "dependency unavailable; degrading until it answers again");
            }
        }
    }

    pub(crate) fn succeeded(&self) {
        let mut current = self.lock();
        if let Some(failed_calls) = current.take() {
            tracing::info!(
                dependency = self.what,
                failed_calls,
                "dependency answers again"
            );
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the outcome of `result` and passes it on.
    pub(crate) fn observe<T, E: std::fmt::Display>(&self, result: Result<T, E>) -> Result<T, E> {
        match &result {
            Ok(_) => self.succeeded(),
            Err(e) => self.failed(e),
        }
        result
    }
}
