//! The contracts of the cache, rate-limit and broadcast ports against the in-process
//! adapters, and what is particular to them.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use orderflow_core::ports::{RateDecision, RateLimiter};
use orderflow_infra::memory::{MemoryOrderCache, MemoryRateLimiter, MemoryStatusBroadcaster};

mod cache {
    use super::*;

    async fn fresh(ttl: Duration) -> MemoryOrderCache {
        MemoryOrderCache::new(100, ttl)
    }

    orderflow_testkit::cache_contract_tests!(fresh);
}

mod rate_limiter {
    use super::*;

    async fn fresh() -> MemoryRateLimiter {
        MemoryRateLimiter::new(1000)
    }

    orderflow_testkit::rate_limit_contract_tests!(fresh);

    #[tokio::test]
    async fn memory_is_bounded() {
        let limiter = MemoryRateLimiter::new(10);
        let window = Duration::from_millis(20);
        for i in 0..10 {
            limiter.hit(&format!("k{i}"), 1, window).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
        // The sweep on the eleventh key drops the expired ten, so old keys are counted afresh.
        limiter.hit("k10", 1, window).await.unwrap();
        assert_eq!(
            limiter.hit("k0", 1, window).await.unwrap(),
            RateDecision::Allowed
        );
    }
}

mod broadcaster {
    use super::*;

    async fn fresh() -> MemoryStatusBroadcaster {
        MemoryStatusBroadcaster::new(16)
    }

    orderflow_testkit::broadcast_contract_tests!(fresh);
}
