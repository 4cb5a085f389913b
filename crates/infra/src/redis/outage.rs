use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Counts a dependency's failed calls and logs an outage once when it starts and once when
/// it ends, not once per request: a Redis outage under load would otherwise flood the logs.
#[derive(Debug)]
pub(crate) struct OutageLog {
    what: &'static str,
    failures: AtomicU64,
    /// Failures since the outage began; `None` while healthy.
    current: Mutex<Option<u64>>,
    /// Whether `current` holds an outage: every successful call reads this, so a healthy
    /// dependency's calls never contend on the mutex. Written only with the mutex held.
    in_outage: AtomicBool,
}

impl OutageLog {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            failures: AtomicU64::new(0),
            current: Mutex::new(None),
            in_outage: AtomicBool::new(false),
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
                self.in_outage.store(true, Ordering::Release);
                tracing::warn!(dependency = self.what, %error,
                    "dependency unavailable; degrading until it answers again");
            }
        }
    }

    pub(crate) fn succeeded(&self) {
        if !self.in_outage.load(Ordering::Acquire) {
            return;
        }
        let mut current = self.lock();
        self.in_outage.store(false, Ordering::Release);
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn outage_calls(log: &OutageLog) -> Option<u64> {
        *log.current.lock().unwrap()
    }

    #[test]
    fn an_outage_counts_its_failures_and_ends_at_the_first_success() {
        let log = OutageLog::new("test");
        log.succeeded();
        assert_eq!(outage_calls(&log), None);
        log.failed(&"refused");
        log.failed(&"refused");
        assert_eq!(outage_calls(&log), Some(2));
        log.succeeded();
        assert_eq!(outage_calls(&log), None);
        log.failed(&"refused");
        assert_eq!(outage_calls(&log), Some(1), "a second outage starts afresh");
        assert_eq!(log.failures(), 3, "failures since start are kept");
    }

    #[test]
    fn observe_records_the_outcome_and_passes_it_on() {
        let log = OutageLog::new("test");
        assert_eq!(log.observe::<u8, &str>(Err("refused")), Err("refused"));
        assert_eq!(outage_calls(&log), Some(1));
        assert_eq!(log.observe::<u8, &str>(Ok(7)), Ok(7));
        assert_eq!(outage_calls(&log), None);
        assert_eq!(log.failures(), 1);
    }
}
