use std::time::Duration;

use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app_with};

#[tokio::test]
async fn each_auth_route_is_limited_per_client_ip() {
    let app = spawn_app_with(|args| args.auth_rate_limit_per_minute = Some("3".into())).await;
    app.register("limit@example.com").await.expect(201);
    for _ in 0..3 {
        app.login("limit@example.com", PASSWORD).await.expect(200);
    }
    let limited = app.login("limit@example.com", PASSWORD).await.expect(429);
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    let forged = app
        .send(
            app.request(reqwest::Method::POST, "/api/auth/login")
                .header("x-forwarded-for", "203.0.113.7")
                .json(&json!({ "email": "limit@example.com", "password": PASSWORD })),
        )
        .await;
    forged.expect(429);

    // Register counts on its own budget: one used above, two left.
    app.register("limit2@example.com").await.expect(201);
    app.register("limit3@example.com").await.expect(201);
    app.register("limit4@example.com").await.expect(429);
}

#[tokio::test]
async fn a_trusted_proxy_passes_the_client_address() {
    let app = spawn_app_with(|args| {
        args.auth_rate_limit_per_minute = Some("2".into());
        args.trusted_proxies = Some("127.0.0.1/32".into());
    })
    .await;
    let login_from = |client: &str| {
        app.request(reqwest::Method::POST, "/api/auth/login")
            .header("x-forwarded-for", client)
            .json(&json!({ "email": "nobody@example.com", "password": PASSWORD }))
    };
    app.send(login_from("198.51.100.1")).await.expect(401);
    app.send(login_from("198.51.100.1")).await.expect(401);
    app.send(login_from("198.51.100.1")).await.expect(429);
    app.send(login_from("198.51.100.2")).await.expect(401);
}

#[tokio::test]
async fn repeated_failed_logins_lock_the_email_for_a_while() {
    let app = spawn_app_with(|args| args.login_failure_limit = Some("3".into())).await;
    app.register("victim@example.com").await.expect(201);
    for _ in 0..3 {
        app.login("victim@example.com", "wrong password")
            .await
            .expect(401);
    }
    // Even the right password now waits, and so does any spelling of the address.
    let limited = app.login("VICTIM@example.com", PASSWORD).await.expect(429);
    assert!(limited.header("retry-after").is_some());
    // Other accounts are not affected.
    app.register("bystander@example.com").await.expect(201);
    app.login("bystander@example.com", PASSWORD)
        .await
        .expect(200);
}

#[tokio::test]
async fn limits_recover_once_their_window_has_passed() {
    let per_ip = spawn_app_with(|args| {
        args.auth_rate_limit_per_minute = Some("2".into());
        args.auth_rate_limit_window = Some("2s".into());
    })
    .await;
    per_ip.register("window@example.com").await.expect(201);
    per_ip
        .login("window@example.com", PASSWORD)
        .await
        .expect(200);
    per_ip
        .login("window@example.com", PASSWORD)
        .await
        .expect(200);
    let limited = per_ip
        .login("window@example.com", PASSWORD)
        .await
        .expect(429);
    // Waiting as told is enough: the same client logs in again.
    sleep_as_told(&limited).await;
    per_ip
        .login("window@example.com", PASSWORD)
        .await
        .expect(200);

    // The failed-login lock on an email lifts the same way.
    let per_email = spawn_app_with(|args| {
        args.login_failure_limit = Some("1".into());
        args.login_failure_window = Some("2s".into());
    })
    .await;
    per_email.register("locked@example.com").await.expect(201);
    per_email
        .login("locked@example.com", "wrong password")
        .await
        .expect(401);
    let locked = per_email
        .login("locked@example.com", PASSWORD)
        .await
        .expect(429);
    sleep_as_told(&locked).await;
    per_email
        .login("locked@example.com", PASSWORD)
        .await
        .expect(200);
}

/// Sleeps for a 429's `Retry-After` (whole seconds, within the 2 s window), and a little
/// more for the clock's granularity.
async fn sleep_as_told(limited: &crate::helpers::Response) {
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
}
