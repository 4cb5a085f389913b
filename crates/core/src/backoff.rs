//! Waits between retries, for every retry loop of the project: the worker, the relay, the
//! email sender, MongoDB transactions, the Redis subscription, the controller.
use std::time::Duration;

/// `base` doubled for each attempt after the first, capped at `max`.
pub fn exponential(base: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    base.saturating_mul(factor).min(max)
}

/// A random wait between zero and `delay` ("full jitter"): retries that collided, such as
/// conflicting transactions, spread out instead of colliding again.
pub fn with_full_jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(10));
        let delays: Vec<_> = (1..=6)
            .map(|n| exponential(base, max, n).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
        assert_eq!(exponential(base, max, 0), base);
        assert_eq!(exponential(base, max, u32::MAX), max);
    }

    #[test]
    fn full_jitter_stays_within_the_delay_and_varies() {
        let delay = Duration::from_millis(200);
        let waits: Vec<_> = (0..100).map(|_| with_full_jitter(delay)).collect();
        assert!(waits.iter().all(|wait| *wait <= delay));
        assert!(waits.iter().any(|wait| *wait != waits[0]), "{waits:?}");
    }
}
