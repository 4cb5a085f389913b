//! The cache, rate-limit and broadcast contracts against the Redis adapters, on the test
//! Redis, and what is particular to them: sharing across instances and outages.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::StreamExt;
use orderflow_core::ports::{
    OrderCache, RateDecision, RateLimiter, StatusBroadcaster, StatusEvent,
};
use orderflow_core::{OrderStatus, UserId};
use orderflow_infra::redis::{
    RedisConnection, RedisOrderCache, RedisRateLimiter, RedisSettings, RedisStatusBroadcaster,
};
use orderflow_testkit::fixtures::{order_of, product};
use orderflow_testkit::services::{PrivateRedis, fresh_redis_prefix, redis_url};

fn connection(url: &str, name: &str) -> RedisConnection {
    let mut settings = RedisSettings::new(url);
    settings.key_prefix = fresh_redis_prefix(name);
    RedisConnection::open(settings).unwrap()
}

mod cache {
    use super::*;

    async fn fresh(ttl: Duration) -> RedisOrderCache {
        RedisOrderCache::new(connection(&redis_url(), "cache"), ttl)
    }

    orderflow_testkit::cache_contract_tests!(fresh);
}

mod rate_limiter {
    use super::*;

    async fn fresh() -> RedisRateLimiter {
        RedisRateLimiter::new(connection(&redis_url(), "ratelimit"))
    }

    orderflow_testkit::rate_limit_contract_tests!(fresh);

    #[tokio::test]
    async fn replicas_share_one_count() {
        let shared = connection(&redis_url(), "shared-limit");
        let (first, second) = (
            RedisRateLimiter::new(shared.clone()),
            RedisRateLimiter::new(shared),
        );
        let window = Duration::from_secs(60);
        assert_eq!(
            first.hit("ip:1", 2, window).await.unwrap(),
            RateDecision::Allowed
        );
        assert_eq!(
            second.hit("ip:1", 2, window).await.unwrap(),
            RateDecision::Allowed
        );
        assert!(matches!(
            first.hit("ip:1", 2, window).await.unwrap(),
            RateDecision::Limited { .. }
        ));
    }
}

mod broadcaster {
    use super::*;

    async fn fresh() -> RedisStatusBroadcaster {
        let broadcaster = RedisStatusBroadcaster::new(connection(&redis_url(), "broadcast"), 16);
        assert!(
            broadcaster
                .wait_until_subscribed(Duration::from_secs(5))
                .await
        );
        broadcaster
    }

    orderflow_testkit::broadcast_contract_tests!(fresh);

    #[tokio::test]
    async fn a_watcher_in_one_process_hears_a_change_published_by_another() {
        let prefix = fresh_redis_prefix("processes");
        let open = || {
            let mut settings = RedisSettings::new(redis_url());
            settings.key_prefix = prefix.clone();
            RedisStatusBroadcaster::new(RedisConnection::open(settings).unwrap(), 16)
        };
        let (api, worker) = (open(), open());
        assert!(api.wait_until_subscribed(Duration::from_secs(5)).await);
        let order_id = orderflow_core::OrderId::generate();
        let mut watching = api.subscribe(order_id).await.unwrap();
        let event = StatusEvent {
            order_id,
            status: OrderStatus::Processed,
        };
        worker.publish(event).await.unwrap();
        let heard = tokio::time::timeout(Duration::from_secs(5), watching.next())
            .await
            .expect("heard within 5 s");
        assert_eq!(heard, Some(event));
    }
}

/// Redis stopped and started again under the adapters: calls fail fast while it is away
/// (the callers then fall back), and the same adapters work again once it is back, without
/// being rebuilt; the broadcast resubscribes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_and_recovers_without_a_restart() {
    let mut server = PrivateRedis::start().await;
    let redis = connection(&server.url(), "outage");
    let cache = RedisOrderCache::new(redis.clone(), Duration::from_secs(600));
    let limiter = RedisRateLimiter::new(redis.clone());
    let broadcaster = RedisStatusBroadcaster::new(redis.clone(), 16);
    assert!(
        broadcaster
            .wait_until_subscribed(Duration::from_secs(5))
            .await
    );
    let order = order_of(UserId::generate(), &[product("a", 100, 1)], &[("a", 1)]);
    cache.put(&order).await.unwrap();

    server.stop();
    let started = std::time::Instant::now();
    assert!(cache.get(order.id).await.is_err(), "no stale answer");
    assert!(cache.put(&order).await.is_err());
    assert!(cache.ping().await.is_err());
    assert!(limiter.hit("k", 5, Duration::from_secs(60)).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fails fast: {:?}",
        started.elapsed()
    );
    assert!(redis.failures() >= 4, "failures are counted");

    server.restart().await;
    let recovered = async {
        loop {
            if cache.ping().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), recovered)
        .await
        .expect("the same connection works again");
    // A fresh server holds nothing: the next read is a miss and refills from the store.
    assert_eq!(cache.get(order.id).await.unwrap().as_deref(), None);
    cache.put(&order).await.unwrap();
    assert_eq!(cache.get(order.id).await.unwrap().as_deref(), Some(&order));
    assert_eq!(
        limiter.hit("k", 5, Duration::from_secs(60)).await.unwrap(),
        RateDecision::Allowed
    );
    assert!(
        broadcaster
            .wait_until_subscribed(Duration::from_secs(15))
            .await,
        "resubscribed"
    );
    let mut watching = broadcaster.subscribe(order.id).await.unwrap();
    let event = StatusEvent {
        order_id: order.id,
        status: OrderStatus::Processing,
    };
    broadcaster.publish(event).await.unwrap();
    let heard = tokio::time::timeout(Duration::from_secs(5), watching.next()).await;
    assert_eq!(heard.unwrap(), Some(event));
}

/// A lost refresh (Redis unreachable at the moment of a status change) must not leave an
/// order's old status readable for the full TTL: only final orders, which never change,
/// live that long.
#[tokio::test]
async fn orders_that_can_still_change_are_cached_briefly() {
    let mut settings = RedisSettings::new(redis_url());
    settings.key_prefix = fresh_redis_prefix("ttl");
    let prefix = settings.key_prefix.clone();
    let cache = RedisOrderCache::new(
        RedisConnection::open(settings).unwrap(),
        Duration::from_secs(600),
    );
    let pending = order_of(UserId::generate(), &[product("a", 100, 1)], &[("a", 1)]);
    let mut failed = pending.clone();
    let transition = failed
        .transition(
            OrderStatus::Failed,
            Some("declined".into()),
            orderflow_core::now(),
        )
        .unwrap();
    failed.apply(&transition).unwrap();
    let other = order_of(UserId::generate(), &[product("a", 100, 1)], &[("a", 1)]);
    cache.put(&other).await.unwrap();
    cache.put(&failed).await.unwrap();

    let mut raw = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl_of = |id: orderflow_core::OrderId| {
        redis::cmd("PTTL")
            .arg(format!("{prefix}order:{id}"))
            .clone()
    };
    let non_final: i64 = ttl_of(other.id).query_async(&mut raw).await.unwrap();
    let final_: i64 = ttl_of(failed.id).query_async(&mut raw).await.unwrap();
    assert!(non_final > 0 && non_final <= 10_000, "{non_final}");
    assert!(final_ > 590_000, "{final_}");
}
