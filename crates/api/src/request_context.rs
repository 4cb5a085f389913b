//! What the service knows of a request besides its head: the peer it came from (set where
//! its connection is accepted) and its trace context (set by [`crate::edge`]). Both travel
//! in one request extension: an extension map holds three without growing, and axum adds
//! two of its own (the matched route and the path parameters); a fourth would grow the map
//! on every request.
use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::FromRequestParts;
use axum::http::Extensions;
use axum::http::request::Parts;
use orderflow_core::TraceParent;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The TCP peer; none for a request that did not come over a connection of ours.
    pub peer: Option<SocketAddr>,
    /// The request's trace context; none before the edge has seen the request.
    pub trace: Option<TraceParent>,
}

impl RequestContext {
    /// The context of a request that arrived from `peer`.
    pub fn from_peer(peer: SocketAddr) -> Self {
        Self {
            peer: Some(peer),
            trace: None,
        }
    }

    /// What the request's extensions hold (nothing known when they hold no context).
    pub fn of(extensions: &Extensions) -> Self {
        extensions.get::<Self>().copied().unwrap_or_default()
    }

    /// Records the request's trace context in its extensions.
    pub fn set_trace(extensions: &mut Extensions, trace: TraceParent) {
        match extensions.get_mut::<Self>() {
            Some(context) => context.trace = Some(trace),
            None => {
                extensions.insert(Self {
                    peer: None,
                    trace: Some(trace),
                });
            }
        }
    }
}

impl<S: Sync> FromRequestParts<S> for RequestContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::of(&parts.extensions))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_joins_the_peer_in_the_one_extension() {
        let peer: SocketAddr = "192.0.2.7:4321".parse().unwrap();
        let trace = TraceParent::generate();
        let mut extensions = Extensions::new();
        extensions.insert(RequestContext::from_peer(peer));
        RequestContext::set_trace(&mut extensions, trace);
        assert_eq!(extensions.len(), 1);
        assert_eq!(
            RequestContext::of(&extensions),
            RequestContext {
                peer: Some(peer),
                trace: Some(trace)
            }
        );
    }

    #[test]
    fn a_request_from_no_connection_of_ours_gets_its_trace_all_the_same() {
        let trace = TraceParent::generate();
        let mut extensions = Extensions::new();
        RequestContext::set_trace(&mut extensions, trace);
        assert_eq!(RequestContext::of(&extensions).trace, Some(trace));
        assert_eq!(RequestContext::of(&extensions).peer, None);
    }
}
