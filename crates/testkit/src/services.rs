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
