use crate::domain::Order;
use crate::ports::{OrderCache, PipelineObserver, StatusBroadcaster, StatusEvent};

/// What follows every applied status change, whoever made it: the cached copy is refreshed
/// (not dropped, so a reader's older copy cannot replace it) and live watchers are told.
/// Both are best effort: the store already holds the change.
pub(crate) async fn announce_status_change(
    cache: &dyn OrderCache,
    broadcaster: &dyn StatusBroadcaster,
    observer: &dyn PipelineObserver,
    order: &Order,
) {
    tracing::info!(order_id = %order.id, status = %order.status, "order status changed");
    observer.status_changed(order);
    if let Err(e) = cache.put(order).await {
        observer.cache_failed();
        // An older copy left in the cache would be served until it expires: drop it if the
        // cache answers at all (a shared cache bounds the life of non-final copies too).
        let dropped = cache.invalidate(order.id).await.is_ok();
        tracing::warn!(error = %e, order_id = %order.id, dropped_old_copy = dropped,
            "order cache refresh failed");
    }
    let event = StatusEvent {
        order_id: order.id,
        status: order.status,
    };
    if let Err(e) = broadcaster.publish(event).await {
        tracing::warn!(error = %e, "status broadcast failed");
    }
}
