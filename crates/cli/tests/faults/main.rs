//! Tests that break dependencies or measure time, in a test binary of their own and one at
//! a time (`serially`), so that neither the rest of the suite nor each other skews what
//! they measure: outages under a steady stream of orders, the API stopped under load, and
//! login timing.
#![allow(clippy::unwrap_used)]

mod crashes;
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
mod invariants;
mod login_timing;
mod outages;

/// Held for the whole of each test here.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn serially() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}
