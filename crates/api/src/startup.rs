use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::AppState;
use crate::routes::router;

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
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        serve(self.listener, self.state, shutdown).await
    }
}

pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
