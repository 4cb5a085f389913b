use orderflow_testkit::fixtures::{
    EARLIER_COST_HASH, EARLIER_COST_PASSWORD, given_user_with_hash, stored_password_hash,
};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn register_returns_the_user_and_never_the_password() {
    let app = spawn_app().await;
    let body = app
        .register("Ada.Lovelace@Example.com")
        .await
        .expect(201)
        .json();
    let user = &body["user"];
    assert_eq!(user["email"], "Ada.Lovelace@Example.com");
    assert_eq!(user["name"], "Test User");
    assert!(user["id"].as_str().unwrap().len() == 36);
    assert!(user["createdAt"].as_str().unwrap().ends_with('Z'));
    let mut keys: Vec<_> = user.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["createdAt", "email", "id", "name"]);
}

#[tokio::test]
async fn emails_are_unique_case_insensitively() {
    let app = spawn_app().await;
    app.register("grace@example.com").await.expect(201);
    let again = app.register("GRACE@Example.COM").await.expect(409);
    assert!(
        again.json()["type"]
            .as_str()
            .unwrap()
            .ends_with("/email-taken")
    );
}

#[tokio::test]
async fn register_names_every_invalid_field() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/auth/register",
            None,
            &json!({ "name": "", "email": "not-an-email", "password": "short" }),
        )
        .await
        .expect(422);
    assert_eq!(response.error_fields(), ["name", "email", "password"]);
    let long = "x".repeat(129);
    let response = app
        .post(
            "/api/auth/register",
            None,
            &json!({ "name": "n".repeat(101), "email": "a@example.com", "password": long }),
        )
        .await
        .expect(422);
    assert_eq!(response.error_fields(), ["name", "password"]);
}

#[tokio::test]
async fn register_without_a_name_uses_the_email_as_the_node_services_did() {
    let app = spawn_app().await;
    let body = app
        .post(
            "/api/auth/register",
            None,
            &json!({ "email": "linus@example.com", "password": PASSWORD }),
        )
        .await
        .expect(201)
        .json();
    assert_eq!(body["user"]["name"], "linus");
}

#[tokio::test]
async fn login_issues_tokens_and_a_strict_refresh_cookie() {
    let app = spawn_app().await;
    app.register("login@example.com").await.expect(201);
    let response = app.login("LOGIN@example.com", PASSWORD).await.expect(200);
    let body = response.json();
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 900);
    assert_eq!(body["user"]["email"], "login@example.com");
    let access = body["accessToken"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 3, "a JWT");
    let refresh = body["refreshToken"].as_str().unwrap();
    let cookie = response.header("set-cookie").unwrap();
    assert!(cookie.starts_with(&format!("refreshToken={refresh};")));
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/auth"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert_eq!(response.header("cache-control"), Some("no-store"));

    let me = app
        .get("/api/auth/me", Some(access))
        .await
        .expect(200)
        .json();
    assert_eq!(me["user"], body["user"]);
}

#[tokio::test]
async fn a_login_replaces_a_hash_of_an_earlier_cost_with_one_of_the_current_cost() {
    let app = spawn_app().await;
    let email = "earlier@example.com";
    given_user_with_hash(app.backends.store.as_ref(), email, EARLIER_COST_HASH).await;
    let stored_hash = || async {
        stored_password_hash(app.backends.store.as_ref(), email)
            .await
            .as_phc()
            .to_owned()
    };

    app.login(email, "not the password").await.expect(401);
    assert_eq!(
        stored_hash().await,
        EARLIER_COST_HASH,
        "a failed login changes nothing"
    );

    app.login(email, EARLIER_COST_PASSWORD).await.expect(200);
    let current = stored_hash().await;
    assert!(
        current.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"),
        "replaced with the current cost: {current}"
    );

    app.login(email, EARLIER_COST_PASSWORD).await.expect(200);
    assert_eq!(
        stored_hash().await,
        current,
        "a hash of the current cost is kept"
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_look_the_same() {
    let app = spawn_app().await;
    app.register("known@example.com").await.expect(201);
    let wrong = app
        .login("known@example.com", "not the password")
        .await
        .expect(401);
    let unknown = app.login("nobody@example.com", PASSWORD).await.expect(401);
    assert_eq!(wrong.text, unknown.text);
    assert_eq!(wrong.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_login() {
    let app = spawn_app().await;
    app.register("rotate@example.com").await.expect(201);
    let login = app
        .login("rotate@example.com", PASSWORD)
        .await
        .expect(200)
        .json();
    let first = login["refreshToken"].as_str().unwrap().to_owned();

    // From the body.
    let rotated = app
        .post("/api/auth/refresh", None, &json!({ "refreshToken": first }))
        .await
        .expect(200)
        .json();
    let second = rotated["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(rotated["accessToken"].is_string());
    app.get("/api/auth/me", rotated["accessToken"].as_str())
        .await
        .expect(200);

    // From the cookie, with no body at all.
    let from_cookie = app
        .send(
            app.request(Method::POST, "/api/auth/refresh")
                .header("cookie", format!("theme=dark; refreshToken={second}")),
        )
        .await
        .expect(200);
    let third = from_cookie.json()["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(from_cookie.header("set-cookie").unwrap().contains(&third));

    // `first` was already rotated: theft. 401, and the live `third` dies with it.
    let reused = app
        .post("/api/auth/refresh", None, &json!({ "refreshToken": first }))
        .await
        .expect(401);
    assert!(
        reused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    app.post("/api/auth/refresh", None, &json!({ "refreshToken": third }))
        .await
        .expect(401);

    // Another login of the same user is untouched.
    let other = app
        .login("rotate@example.com", PASSWORD)
        .await
        .expect(200)
        .json();
    app.post(
        "/api/auth/refresh",
        None,
        &json!({ "refreshToken": other["refreshToken"] }),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn logout_revokes_the_login_and_clears_the_cookie() {
    let app = spawn_app().await;
    app.register("bye@example.com").await.expect(201);
    let login = app
        .login("bye@example.com", PASSWORD)
        .await
        .expect(200)
        .json();
    let token = login["refreshToken"].as_str().unwrap();
    let out = app
        .post("/api/auth/logout", None, &json!({ "refreshToken": token }))
        .await
        .expect(204);
    assert!(out.text.is_empty());
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    app.post("/api/auth/refresh", None, &json!({ "refreshToken": token }))
        .await
        .expect(401);
    // Logging out again, or with nothing, is still fine.
    app.post("/api/auth/logout", None, &json!({ "refreshToken": token }))
        .await
        .expect(204);
    app.send(app.request(Method::POST, "/api/auth/logout"))
        .await
        .expect(204);
}

#[tokio::test]
async fn refresh_without_a_token_or_with_garbage_is_401() {
    let app = spawn_app().await;
    app.send(app.request(Method::POST, "/api/auth/refresh"))
        .await
        .expect(401);
    app.post(
        "/api/auth/refresh",
        None,
        &json!({ "refreshToken": "garbage" }),
    )
    .await
    .expect(401);
    let wrong_type = app
        .post("/api/auth/refresh", None, &json!({ "refreshToken": 42 }))
        .await
        .expect(422);
    assert_eq!(wrong_type.error_fields(), ["refreshToken"]);
    app.send(
        app.request(Method::POST, "/api/auth/refresh")
            .header("content-type", "application/json")
            .body("{\"refreshToken\": "),
    )
    .await
    .expect(400);
}
