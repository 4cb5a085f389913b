//! The test servers `scripts/test-services.sh` starts, as tests find them. A test that needs
//! one fails, naming what is missing; none is skipped.

/// A MongoDB replica set (the wire-compatible test server), without a database in the path.
pub const MONGO_URI_VARIABLE: &str = "ORDERFLOW_TEST_MONGO_URI";

/// `ORDERFLOW_TEST_MONGO_URI` with a fresh database of its own in the path, so tests run in
/// parallel without seeing each other's data.
pub fn fresh_mongo_uri(prefix: &str) -> String {
    let uri = std::env::var(MONGO_URI_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "{MONGO_URI_VARIABLE} is not set: these tests need a MongoDB replica set. \
             Run them through scripts/test.sh, or start one with \
             `scripts/test-services.sh start` and export the URI it prints"
        )
    });
    let database = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    with_database(&uri, &database)
}

/// Puts `database` into the path of a MongoDB connection string, keeping its options.
pub fn with_database(uri: &str, database: &str) -> String {
    let (base, query) = uri.split_once('?').unwrap_or((uri, ""));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let hosts_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..hosts_end]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn required(variable: &str, what: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: these tests need {what}. Run them through scripts/test.sh, \
             or start it with `scripts/test-services.sh start` and source .tools/services.env"
        )
    })
}

/// The shared test Redis (`redis://127.0.0.1:port`).
pub fn redis_url() -> String {
    required("ORDERFLOW_TEST_REDIS_URL", "a Redis server")
}

/// A key prefix no other test uses, so tests share one Redis without seeing each other.
pub fn fresh_redis_prefix(name: &str) -> String {
    format!("test:{name}:{}:", uuid::Uuid::now_v7().simple())
}

/// The AWS emulator (moto) serving SQS and SES v2.
pub fn aws_endpoint() -> String {
    required("ORDERFLOW_TEST_AWS_ENDPOINT", "the AWS emulator (moto)")
}

/// A Redis server of a test's own, which it may stop and start again on the same port to
/// play an outage. Stopped when dropped.
pub struct PrivateRedis {
    pub port: u16,
    server: Option<std::process::Child>,
}

impl PrivateRedis {
    pub async fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            server: None,
        };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub async fn restart(&mut self) {
        self.stop();
        let binary = required("ORDERFLOW_TEST_REDIS_SERVER", "the redis-server binary");
        let child = std::process::Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.server = Some(child);
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// Kills the server; its connections drop at once.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port nothing listens on right now, for a server a test starts itself.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the loopback interface has a free port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_goes_into_the_path() {
        assert_eq!(
            with_database("mongodb://127.0.0.1:27217/?retryWrites=false", "db1"),
            "mongodb://127.0.0.1:27217/db1?retryWrites=false"
        );
        assert_eq!(
            with_database("mongodb://a:1,b:2/old", "db2"),
            "mongodb://a:1,b:2/db2"
        );
    }
}
