//! A TCP link between the service under test and one of its dependencies, which a test
//! cuts and restores to play an outage of that dependency (a crash, a partition) without
//! losing the dependency's state, as restarting an in-memory test server would.
use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::services::free_port;

pub struct FaultyLink {
    port: u16,
    target: SocketAddr,
    /// The accept loop (which owns every open connection), while the link is up.
    up: Mutex<Option<JoinSet<()>>>,
}

impl FaultyLink {
    /// A link on a free loopback port to `target`, up.
    pub async fn to(target: SocketAddr) -> Self {
        let link = Self {
            port: free_port(),
            target,
            up: Mutex::new(None),
        };
        link.restore().await;
        link
    }

    /// `host:port` to give the service instead of the dependency's own address.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Drops every connection through the link and refuses new ones.
    pub fn cut(&self) {
        if let Some(mut tasks) = self.up.lock().unwrap().take() {
            tasks.abort_all();
        }
    }

    /// Accepts connections again (on the same port) and relays them to the target.
    pub async fn restore(&self) {
        self.cut();
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the link's port is free again once it is cut");
        let mut tasks = JoinSet::new();
        let target = self.target;
        tasks.spawn(async move {
            // Owned by this task: aborting it drops the set, which aborts every relay.
            let mut relays = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                relays.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                while relays.try_join_next().is_some() {}
            }
        });
        *self.up.lock().unwrap() = Some(tasks);
    }
}

impl Drop for FaultyLink {
    fn drop(&mut self) {
        self.cut();
    }
}
