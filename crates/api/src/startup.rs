use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::AppState;
use crate::head_deadline::HeadDeadline;
use crate::request_context::RequestContext;
use crate::routes::router;
use crate::settings::ConnectionLimits;

/// The API bound to its listener, built the same way for `main` and for tests.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds `address` (port 0 picks a free port).
    pub async fn bind(address: SocketAddr, state: AppState) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let limits = self.state.settings.connections;
        serve(self.listener, router(self.state), limits, shutdown).await;
    }
}

/// Accepts connections until `shutdown`; then stops accepting, lets requests in flight
/// finish (idle keep-alive connections close at once), and drops whatever is still open
/// after `limits.shutdown_grace` (event streams, stuck clients).
///
/// A client gets `limits.header_read_timeout` to send its request head, so connections
/// that trickle bytes (slow loris) are closed, and a head over `limits.max_header_bytes`
/// is answered 431. The timeout is kept by each connection's own [`HeadDeadline`].
async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // No timer here: each connection's builder gets its own (below), which the header read
    // timeout needs.
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .header_read_timeout(limits.header_read_timeout)
        // One buffer and one `sendto` per answer, the body copied after the head, rather than
        // a `writev` of the two: faster for small answers such as a cached order
        // (docs/BENCHMARKS.md).
        .writev(false)
        .max_buf_size(
            limits
                .max_header_bytes
                .max(ConnectionLimits::MIN_HEADER_BYTES),
        );
    let builder = builder.http1_only();
    let graceful = GracefulShutdown::new();
    // Every open connection's task, to drop those still open after the shutdown grace. (A
    // cancellation branch in each task instead was polled on every wake-up of it.)
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Finished connections leave the set as new ones come, so it holds the open ones.
        while connections.try_join_next().is_some() {}
        // Small responses go out at once rather than waiting on Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = tower::service_fn(move |mut request: axum::http::Request<Incoming>| {
            request
                .extensions_mut()
                .insert(RequestContext::from_peer(peer));
            app.clone().oneshot(request)
        });
        let head_deadline = HeadDeadline::new();
        let mut connection_builder = builder.clone();
        connection_builder.http1().timer(head_deadline.clone());
        let connection = connection_builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            tokio::select! {
                // The watch after the connection, so it sees a deadline noted in this round.
                biased;
                // Resets and timeouts are the client's business: nothing to report.
                _ = connection => {}
                () = head_deadline.watch() => {}
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?limits.shutdown_grace, "connections still open after the shutdown grace were closed");
    }
    connections.abort_all();
}
