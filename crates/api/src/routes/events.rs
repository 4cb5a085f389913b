use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use orderflow_core::ports::StatusSubscription;
use orderflow_core::{OrderId, StatusChange, UserId};

use crate::extract::CurrentUser;
use crate::open_streams::StreamPermit;
use crate::problem::Problem;
use crate::routes::orders::order_id;
use crate::state::AppState;

/// Live status of one order as server-sent events.
#[utoipa::path(get, path = "/api/orders/{id}/events", operation_id = "orderEvents", tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The order's id")),
    responses(
        (status = 200, description = "text/event-stream: one `status` event per status change, the current status first; the stream ends after a terminal status",
            content_type = "text/event-stream", body = String),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, or not the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many event streams open: the caller's, or everyone's (EVENT_STREAMS_PER_USER, EVENT_STREAMS_MAX)", body = Problem, content_type = "application/problem+json")))]
pub async fn events(
    State(state): State<AppState>,
    CurrentUser(user_id): CurrentUser,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let id = order_id(&id)?;
    let permit = state.streams.open(user_id).ok_or_else(|| {
        let limits = state.streams.limits();
        Problem::too_many_streams(limits.per_user, limits.total)
    })?;
    // Subscribe before reading, so no change falls between the read and the subscription.
    let subscription: StatusSubscription = match state.broadcaster.subscribe(id).await {
        Ok(subscription) => subscription,
        Err(e) => {
            tracing::warn!(error = %e, "status broadcast unavailable; polling only");
            Box::pin(futures::stream::pending())
        }
    };
    let order = state.orders.current(user_id, id).await?;
    let current = order.history.last().cloned();
    let watch = Watch {
        state,
        user_id,
        order_id: id,
        seen: order.history.len(),
        finished: order.status.is_terminal(),
        queued: current.into_iter().collect(),
        subscription,
        _permit: permit,
    };
    let events = futures::stream::unfold(watch, Watch::next).map(Ok);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

struct Watch {
    state: AppState,
    user_id: UserId,
    order_id: OrderId,
    /// History entries already queued or sent.
    seen: usize,
    finished: bool,
    queued: VecDeque<StatusChange>,
    subscription: StatusSubscription,
    /// Held for as long as the stream is open.
    _permit: StreamPermit,
}

impl Watch {
    async fn next(mut self) -> Option<(Event, Self)> {
        loop {
            if let Some(change) = self.queued.pop_front() {
                let event = status_event(self.order_id, self.seen - self.queued.len(), &change);
                return Some((event, self));
            }
            if self.finished {
                return None;
            }
            let recheck = self.state.settings.events_recheck;
            // Woken by a change: a read made since then. On the timer: one made within the
            // interval, by this stream or another of the order's.
            let fresh_since = tokio::select! {
                woken = self.subscription.next() => {
                    if woken.is_none() {
                        self.subscription = Box::pin(futures::stream::pending());
                    }
                    Instant::now()
                }
                () = tokio::time::sleep(recheck) => {
                    Instant::now().checked_sub(recheck).unwrap_or_else(Instant::now)
                }
            };
            let state = &self.state;
            let current = state
                .rechecks
                .current(&state.orders, self.user_id, self.order_id, fresh_since)
                .await;
            match current {
                Ok(order) => {
                    self.queued
                        .extend(order.history.iter().skip(self.seen).cloned());
                    self.seen = self.seen.max(order.history.len());
                    self.finished = order.status.is_terminal();
                }
                Err(e) => tracing::warn!(error = %e, "order re-read failed; trying again"),
            }
        }
    }
}

fn status_event(order_id: OrderId, sequence: usize, change: &StatusChange) -> Event {
    let mut data = serde_json::json!({
        "orderId": order_id,
        "status": change.status,
        "at": change.at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    });
    if let Some(reason) = &change.reason {
        data["reason"] = serde_json::Value::from(reason.as_str());
    }
    Event::default()
        .event("status")
        .id(sequence.to_string())
        .data(data.to_string())
}
