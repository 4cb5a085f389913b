//! Waits between retries.
use std::time::Duration;

/// `base` doubled for each attempt after the first, capped at `max`.
pub fn exponential(base: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    base.saturating_mul(factor).min(max)
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
}
