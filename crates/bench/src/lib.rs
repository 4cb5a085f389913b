//! Benchmarks of orderflow, run by `scripts/bench.sh` (never by the test suite). The
//! binaries are the bare baselines our request path is measured against (`bench-baseline`),
//! a fixed-rate load client and a start-up timer (`bench-load`), and the store's own
//! placement rate without HTTP (`bench-store`); `benches/hot_paths.rs` has the Criterion
//! benches of the hot pure code.
#![forbid(unsafe_code)]

use std::time::Duration;

/// The `q`-quantile (0..=1) of `samples`, which it sorts; zero for no samples.
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((samples.len() - 1) as f64 * q).round() as usize;
    samples[rank.min(samples.len() - 1)]
}
