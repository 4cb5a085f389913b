//! The OrderCache contract. `$fresh(ttl)` makes an empty cache whose entries live `ttl`.
use std::time::Duration;

use orderflow_core::ports::OrderCache;
use orderflow_core::{Order, OrderStatus, UserId};

use crate::fixtures::{order_of, product};

#[macro_export]
macro_rules! cache_contract_tests {
    ($fresh:path) => {
        $crate::cache_contract_tests!(@each $fresh;
            a_cached_order_is_returned_until_invalidated,
            entries_expire_after_their_ttl,
            an_older_copy_never_replaces_a_newer_one,
            every_read_answers_the_version_cached_now,
        );
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::cache_contract::$name(|ttl| $fresh(ttl)).await;
            }
        )*
    };
}

fn pending_order() -> Order {
    order_of(UserId::generate(), &[product("a", 100, 1)], &[("a", 1)])
}

fn advanced(order: &Order, to: OrderStatus) -> Order {
    let mut next = order.clone();
    let transition = next.transition(to, None, orderflow_core::now()).unwrap();
    next.apply(&transition).unwrap();
    next
}

pub async fn a_cached_order_is_returned_until_invalidated<C, F>(fresh: impl Fn(Duration) -> F)
where
    C: OrderCache,
    F: std::future::Future<Output = C>,
{
    let cache = fresh(Duration::from_secs(600)).await;
    let order = pending_order();
    assert_eq!(cache.get(order.id).await.unwrap().as_deref(), None);
    cache.put(&order).await.unwrap();
    assert_eq!(cache.get(order.id).await.unwrap().as_deref(), Some(&order));
    cache.invalidate(order.id).await.unwrap();
    assert_eq!(cache.get(order.id).await.unwrap().as_deref(), None);
    cache.ping().await.unwrap();
}

pub async fn entries_expire_after_their_ttl<C, F>(fresh: impl Fn(Duration) -> F)
where
    C: OrderCache,
    F: std::future::Future<Output = C>,
{
    let cache = fresh(Duration::from_secs(1)).await;
    let order = pending_order();
    cache.put(&order).await.unwrap();
    assert!(cache.get(order.id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(cache.get(order.id).await.unwrap().as_deref(), None);
}

pub async fn an_older_copy_never_replaces_a_newer_one<C, F>(fresh: impl Fn(Duration) -> F)
where
    C: OrderCache,
    F: std::future::Future<Output = C>,
{
    let cache = fresh(Duration::from_secs(600)).await;
    let pending = pending_order();
    let processing = advanced(&pending, OrderStatus::Processing);
    // A reader that read PENDING before the worker's change puts it after the refresh.
    cache.put(&processing).await.unwrap();
    cache.put(&pending).await.unwrap();
    assert_eq!(
        cache.get(pending.id).await.unwrap().as_deref(),
        Some(&processing)
    );
    let processed = advanced(&processing, OrderStatus::Processed);
    cache.put(&processed).await.unwrap();
    assert_eq!(
        cache.get(pending.id).await.unwrap().as_deref(),
        Some(&processed)
    );
}

pub async fn every_read_answers_the_version_cached_now<C, F>(fresh: impl Fn(Duration) -> F)
where
    C: OrderCache,
    F: std::future::Future<Output = C>,
{
    let cache = fresh(Duration::from_secs(600)).await;
    let pending = pending_order();
    let processing = advanced(&pending, OrderStatus::Processing);
    cache.put(&pending).await.unwrap();
    for _ in 0..2 {
        assert_eq!(
            cache.get(pending.id).await.unwrap().as_deref(),
            Some(&pending)
        );
    }
    cache.put(&processing).await.unwrap();
    assert_eq!(
        cache.get(pending.id).await.unwrap().as_deref(),
        Some(&processing)
    );
    // Once invalidated, an older copy may be cached again, and is what a read answers, not
    // the newer one read before.
    cache.invalidate(pending.id).await.unwrap();
    cache.put(&pending).await.unwrap();
    assert_eq!(
        cache.get(pending.id).await.unwrap().as_deref(),
        Some(&pending)
    );
}
