#![allow(clippy::unwrap_used)]

use std::time::Duration;

use orderflow_core::ports::{OrderCache, RateDecision, RateLimiter};
use orderflow_core::{Currency, Money, Order, OrderLine, ProductId, ProductName, Quantity, UserId};
use orderflow_infra::memory::{MemoryOrderCache, MemoryRateLimiter};

fn order() -> Order {
    let line = OrderLine {
        product_id: ProductId::parse("a").unwrap(),
        name: ProductName::parse("A").unwrap(),
        quantity: Quantity::parse(1).unwrap(),
        unit_price: Money::new(100, Currency::USD).unwrap(),
    };
    Order::place(UserId::generate(), vec![line], orderflow_core::now()).unwrap()
}

#[tokio::test]
async fn cache_returns_what_was_put_until_invalidated() {
    let cache = MemoryOrderCache::new(100, Duration::from_secs(600));
    let order = order();
    assert_eq!(cache.get(order.id).await.unwrap(), None);
    cache.put(&order).await.unwrap();
    assert_eq!(cache.get(order.id).await.unwrap(), Some(order.clone()));
    cache.invalidate(order.id).await.unwrap();
    assert_eq!(cache.get(order.id).await.unwrap(), None);
}

#[tokio::test]
async fn cache_entries_expire() {
    let cache = MemoryOrderCache::new(100, Duration::from_millis(50));
    let order = order();
    cache.put(&order).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(cache.get(order.id).await.unwrap(), None);
}

#[tokio::test]
async fn limiter_allows_the_limit_then_says_when_to_retry() {
    let limiter = MemoryRateLimiter::new(1000);
    let window = Duration::from_secs(60);
    for _ in 0..3 {
        assert_eq!(
            limiter.hit("ip:1", 3, window).await.unwrap(),
            RateDecision::Allowed
        );
    }
    let RateDecision::Limited { retry_after } = limiter.hit("ip:1", 3, window).await.unwrap()
    else {
        panic!("the fourth hit is over the limit");
    };
    assert!(retry_after > Duration::from_secs(55) && retry_after <= window);
    assert_eq!(
        limiter.hit("ip:2", 3, window).await.unwrap(),
        RateDecision::Allowed,
        "per key"
    );
}

#[tokio::test]
async fn check_does_not_count_and_windows_reset() {
    let limiter = MemoryRateLimiter::new(1000);
    let window = Duration::from_millis(80);
    for _ in 0..5 {
        assert_eq!(
            limiter.check("k", 1, window).await.unwrap(),
            RateDecision::Allowed
        );
    }
    limiter.hit("k", 1, window).await.unwrap();
    assert!(matches!(
        limiter.check("k", 1, window).await.unwrap(),
        RateDecision::Limited { .. }
    ));
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        limiter.check("k", 1, window).await.unwrap(),
        RateDecision::Allowed
    );
}

#[tokio::test]
async fn limiter_memory_is_bounded() {
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

#[tokio::test]
async fn an_older_copy_never_replaces_a_newer_one() {
    let cache = MemoryOrderCache::new(100, Duration::from_secs(600));
    let pending = order();
    let mut processing = pending.clone();
    let transition = processing
        .transition(
            orderflow_core::OrderStatus::Processing,
            None,
            orderflow_core::now(),
        )
        .unwrap();
    processing.apply(&transition).unwrap();

    cache.put(&processing).await.unwrap();
    cache.put(&pending).await.unwrap();
    assert_eq!(
        cache.get(pending.id).await.unwrap(),
        Some(processing.clone())
    );
    let mut processed = processing.clone();
    let transition = processed
        .transition(
            orderflow_core::OrderStatus::Processed,
            None,
            orderflow_core::now(),
        )
        .unwrap();
    processed.apply(&transition).unwrap();
    cache.put(&processed).await.unwrap();
    assert_eq!(cache.get(pending.id).await.unwrap(), Some(processed));
}
