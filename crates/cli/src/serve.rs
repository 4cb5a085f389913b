//! `orderflow serve`: the API on the embedded default.
use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use orderflow_api::auth::{Argon2Hasher, JwtAccessTokens, JwtSecret};
use orderflow_api::{AppState, Application, Dependencies};
use orderflow_core::ports::Store;
use orderflow_infra::memory::{MemoryOrderCache, MemoryRateLimiter};
use orderflow_store::SqliteStore;

use crate::config::Settings;
use crate::{demo_catalog, jwt_secret};

/// Distinct rate-limit keys kept in memory before expired windows are swept.
const RATE_LIMIT_KEYS: usize = 100_000;

/// Opens the store, wires the adapters and binds the listener: everything `serve` does
/// before it starts answering.
pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
    let data_dir = settings.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&data_dir))
        .await
        .context("opening the store")??;
    let store: Arc<dyn Store> = Arc::new(store);
    if settings.seed_demo_catalog {
        demo_catalog::seed_if_empty(store.as_ref()).await?;
    }
    let secret = match &settings.jwt_secret {
        Some(secret) => secret.clone(),
        None => {
            let data_dir = settings.data_dir.clone();
            let bytes = tokio::task::spawn_blocking(move || jwt_secret::load_or_create(&data_dir))
                .await??;
            JwtSecret::new(bytes).context("the JWT secret kept in DATA_DIR is too short")?
        }
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let hasher = tokio::task::spawn_blocking(move || Argon2Hasher::new(cores)).await??;
    let deps = Dependencies {
        store,
        cache: Arc::new(MemoryOrderCache::new(
            settings.cache_max_entries,
            settings.cache_ttl,
        )),
        rate_limiter: Arc::new(MemoryRateLimiter::new(RATE_LIMIT_KEYS)),
        password_hasher: Arc::new(hasher),
        access_tokens: Arc::new(JwtAccessTokens::new(&secret, settings.access_token_ttl)),
    };
    let state = AppState::new(deps, settings.api.clone());
    Application::bind(settings.listen, state)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))
}

pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = build(&settings).await?;
    tracing::info!(
        address = %app.local_addr()?,
        data_dir = %settings.data_dir.display(),
        "orderflow is serving on the embedded store"
    );
    app.run(shutdown).await.context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}
