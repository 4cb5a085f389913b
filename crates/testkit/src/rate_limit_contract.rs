//! The RateLimiter contract: fixed windows per key. `$fresh()` makes an empty limiter.
use std::time::Duration;

use orderflow_core::ports::{RateDecision, RateLimiter};

#[macro_export]
macro_rules! rate_limit_contract_tests {
    ($fresh:path) => {
        $crate::rate_limit_contract_tests!(@each $fresh;
            the_limit_is_allowed_then_retry_after_is_given,
            check_does_not_count_and_windows_reset,
        );
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let limiter = $fresh().await;
                $crate::rate_limit_contract::$name(&limiter).await;
            }
        )*
    };
}

/// Keys of their own, so limiters that share a server do not see each other's counts.
fn key(name: &str) -> String {
    format!("{name}:{}", uuid::Uuid::now_v7().simple())
}

pub async fn the_limit_is_allowed_then_retry_after_is_given(limiter: &dyn RateLimiter) {
    let window = Duration::from_secs(60);
    let (first, second) = (key("ip"), key("ip"));
    for _ in 0..3 {
        assert_eq!(
            limiter.hit(&first, 3, window).await.unwrap(),
            RateDecision::Allowed
        );
    }
    let RateDecision::Limited { retry_after } = limiter.hit(&first, 3, window).await.unwrap()
    else {
        panic!("the fourth hit is over the limit");
    };
    assert!(
        retry_after > Duration::from_secs(55) && retry_after <= window,
        "{retry_after:?}"
    );
    assert_eq!(
        limiter.hit(&second, 3, window).await.unwrap(),
        RateDecision::Allowed,
        "per key"
    );
}

pub async fn check_does_not_count_and_windows_reset(limiter: &dyn RateLimiter) {
    let window = Duration::from_secs(1);
    let k = key("email");
    for _ in 0..5 {
        assert_eq!(
            limiter.check(&k, 1, window).await.unwrap(),
            RateDecision::Allowed
        );
    }
    limiter.hit(&k, 1, window).await.unwrap();
    assert!(matches!(
        limiter.check(&k, 1, window).await.unwrap(),
        RateDecision::Limited { .. }
    ));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        limiter.check(&k, 1, window).await.unwrap(),
        RateDecision::Allowed
    );
}
