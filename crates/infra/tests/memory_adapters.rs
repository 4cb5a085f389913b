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
        // An eleventh key finds room; an old key whose window has passed is counted afresh.
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

mod cache_bounds {
    use std::time::Duration;

    use orderflow_core::UserId;
    use orderflow_core::ports::OrderCache;
    use orderflow_infra::memory::MemoryOrderCache;
    use orderflow_testkit::fixtures;

    #[tokio::test]
    async fn holds_at_most_its_capacity() {
        let cache = MemoryOrderCache::new(100, Duration::from_secs(60));
        let catalog = [fixtures::product("sku-1", 1999, 10)];
        let mut ids = Vec::new();
        for _ in 0..1_000 {
            let order = fixtures::order_of(UserId::generate(), &catalog, &[("sku-1", 1)]);
            cache.put(&order).await.unwrap();
            ids.push(order.id);
        }
        let mut held = 0;
        for id in ids {
            if cache.get(id).await.unwrap().is_some() {
                held += 1;
            }
        }
        assert!(held > 0, "the cache keeps some orders");
        assert!(held <= 100, "{held} orders held by a cache of 100");
    }
}
