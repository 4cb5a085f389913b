//! Hostile and careless clients: response headers, CORS, oversized and trickled request
//! heads. (Login timing is measured alone, in tests/faults.)
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    app.register("headers@example.com").await.expect(201);
    let responses = [
        app.get("/healthz", None).await.expect(200),
        app.get("/api/inventory", None).await.expect(200),
        app.get("/api/no-such-thing", None).await.expect(404),
        app.login("headers@example.com", PASSWORD).await.expect(200),
        app.login("headers@example.com", "wrong password 1")
            .await
            .expect(401),
    ];
    for response in &responses {
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
        assert!(response.header("content-security-policy").is_some());
        assert_eq!(
            response.header("strict-transport-security"),
            None,
            "no HSTS unless configured: the service may be reached over plain HTTP"
        );
    }
    for auth in &responses[3..] {
        assert_eq!(auth.header("cache-control"), Some("no-store"));
    }

    let https_only = spawn_app_with(|args| args.hsts_max_age = Some("365d".into())).await;
    assert_eq!(
        https_only
            .get("/healthz", None)
            .await
            .expect(200)
            .header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
}

#[tokio::test]
async fn cross_origin_requests_are_refused_unless_the_origin_is_configured() {
    let preflight = |app: &crate::helpers::TestApp, origin: &str| {
        app.request(Method::OPTIONS, "/api/orders")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
    };
    let closed = spawn_app().await;
    let answer = closed
        .send(preflight(&closed, "https://shop.example.com"))
        .await;
    assert_eq!(answer.header("access-control-allow-origin"), None);
    let read = closed
        .send(
            closed
                .request(Method::GET, "/api/inventory")
                .header("origin", "https://shop.example.com"),
        )
        .await
        .expect(200);
    assert_eq!(read.header("access-control-allow-origin"), None);

    let open = spawn_app_with(|args| {
        args.cors_allowed_origins =
            Some("https://shop.example.com, https://admin.example.com".into());
    })
    .await;
    let allowed = open
        .send(preflight(&open, "https://shop.example.com"))
        .await
        .expect(200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    let methods = allowed
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let other = open
        .send(preflight(&open, "https://evil.example.net"))
        .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

/// Sends `head` on a fresh connection and returns what the server answered before closing
/// (or within `patience`).
fn exchange(address: &str, head: &[u8], patience: Duration) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(patience)).unwrap();
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = stream.write_all(head);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_request_heads_are_refused_with_431() {
    let app = spawn_app().await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let huge = "a".repeat(64 * 1024);
    let head = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {huge}\r\n\r\n");
    let answer = tokio::task::spawn_blocking(move || {
        exchange(&address, head.as_bytes(), Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "answered: {answer:.200}"
    );
    // The server is unharmed.
    app.get("/healthz", None).await.expect(200);
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_that_trickle_their_request_head_are_cut_off() {
    trickled_head_is_cut_off(0).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_alive_connection_that_trickles_its_next_head_is_cut_off() {
    // Each answered request's head had its own deadline; the next head gets a new one.
    trickled_head_is_cut_off(3).await;
}

/// Sends `answered` whole requests on one connection, reading each answer, then a head
/// that never ends, and returns once the server closes the connection.
async fn trickled_head_is_cut_off(answered: usize) {
    let app = spawn_app_with(|args| args.header_read_timeout = Some("1s".into())).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let slow = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&address).unwrap();
        for _ in 0..answered {
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut answer = Vec::new();
            let mut chunk = [0u8; 1024];
            // /healthz answers a small JSON body; its head says how long.
            while !answer.ends_with(b"}") {
                let read = stream.read(&mut chunk).unwrap();
                assert!(read > 0, "the connection stayed open for the whole request");
                answer.extend_from_slice(&chunk[..read]);
            }
            assert!(answer.starts_with(b"HTTP/1.1 200"));
            // Idle, within the timeout: the wait for the next head starts its own deadline.
            std::thread::sleep(Duration::from_millis(300));
        }
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let started = Instant::now();
        // One header byte every 200 ms: the head would never end.
        while started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(200));
            if stream.write_all(b"X").is_err() {
                break;
            }
            stream
                .set_read_timeout(Some(Duration::from_millis(1)))
                .unwrap();
            let mut byte = [0u8; 64];
            match stream.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => break,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        }
        started.elapsed()
    });
    // Meanwhile everyone else is served.
    app.get("/healthz", None).await.expect(200);
    let held = slow.await.unwrap();
    assert!(
        held < Duration::from_secs(4),
        "the trickling connection was held for {held:?} with a 1 s header timeout"
    );
}
