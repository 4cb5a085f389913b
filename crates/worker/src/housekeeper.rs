use std::sync::Arc;
use std::time::Duration;

use orderflow_core::ports::Store;
use orderflow_core::usecases::IDEMPOTENCY_WINDOW;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Published outbox entries are kept this long, for inspection, then removed.
const KEEP_PUBLISHED: Duration = Duration::from_secs(7 * 24 * 3600);

/// Periodically removes expired refresh tokens and idempotency keys and old published
/// outbox entries, so the store does not grow without bound.
pub struct Housekeeper {
    store: Arc<dyn Store>,
    interval: Duration,
}

impl Housekeeper {
    pub fn new(store: Arc<dyn Store>, interval: Duration) -> Self {
        Self { store, interval }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let now = orderflow_core::now();
            let sweep = tracing::info_span!("housekeeping", otel.name = "orders housekeeping");
            match self
                .store
                .purge(now, now - IDEMPOTENCY_WINDOW, now - KEEP_PUBLISHED)
                .instrument(sweep)
                .await
            {
                Ok(purged) => tracing::debug!(?purged, "housekeeping done"),
                Err(e) => tracing::warn!(error = %e, "housekeeping failed; trying again later"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }
}
