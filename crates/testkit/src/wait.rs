//! Waiting for something another task or process does.
use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it gives a value; fails naming `what` after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_or(within, what, || {
        let polled = check();
        async { polled.await.ok_or_else(String::new) }
    })
    .await
}

/// As [`eventually`], with `check` saying what it still waits for; the failure names the last.
pub async fn eventually_or<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        let pending = match check().await {
            Ok(value) => return value,
            Err(pending) => pending,
        };
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; {pending}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
