use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{JWT_SECRET, TestApp, spawn_app};

async fn app_with_user() -> (TestApp, String, String) {
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 50)]).await;
    let token = app.user("errors@example.com").await;
    let me = app
        .get("/api/auth/me", Some(&token))
        .await
        .expect(200)
        .json();
    let user_id = me["user"]["id"].as_str().unwrap().to_owned();
    (app, token, user_id)
}

fn sign(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
    encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn bodies_that_are_not_json_are_400() {
    let (app, token, _) = app_with_user().await;
    let raw = |content_type: &str, body: &'static str| {
        app.request(Method::POST, "/api/orders")
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
    };
    app.send(raw("application/json", "{\"items\": ["))
        .await
        .expect(400);
    app.send(raw("application/json", "")).await.expect(400);
    app.send(raw("text/plain", "{\"items\": []}"))
        .await
        .expect(400);
    app.send(app.request(Method::POST, "/api/auth/login").body("{}"))
        .await
        .expect(400);
}

#[tokio::test]
async fn well_formed_json_of_the_wrong_shape_is_422_naming_the_field() {
    let (app, token, _) = app_with_user().await;
    let cases = [
        (json!({ "items": "many" }), "items"),
        (
            json!({ "items": [{ "productId": "sku-a", "quantity": "2" }] }),
            "items[0].quantity",
        ),
        (
            json!({ "items": [{ "productId": 7, "quantity": 2 }] }),
            "items[0].productId",
        ),
        (
            json!({ "items": [{ "productId": "sku-a", "quantity": 1.5 }] }),
            "items[0].quantity",
        ),
        (
            json!({ "items": [{ "productId": "sku-a", "quantity": 1 }], "totalAmount": "1" }),
            "totalAmount",
        ),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        let response = app
            .post("/api/orders", Some(&token), &body)
            .await
            .expect(422);
        assert_eq!(response.error_fields(), [field], "{body}");
    }
    let response = app
        .post("/api/auth/login", None, &json!({ "email": 1 }))
        .await
        .expect(422);
    assert_eq!(response.error_fields(), ["email"]);
}

#[tokio::test]
async fn invalid_orders_are_422_naming_each_line() {
    let (app, token, _) = app_with_user().await;
    let one =
        |product: &str, quantity: i64| json!([{ "productId": product, "quantity": quantity }]);
    for (items, field) in [
        (one("sku-unknown", 1), "items[0].productId"),
        (one("sku-a", 0), "items[0].quantity"),
        (one("sku-a", -1), "items[0].quantity"),
        (one("sku-a", 10_001), "items[0].quantity"),
        (json!([]), "items"),
    ] {
        let response = app.place(&token, items.clone()).await.expect(422);
        assert_eq!(response.error_fields(), [field], "{items}");
    }
    let lines: Vec<Value> = (0..101)
        .map(|_| json!({ "productId": "sku-a", "quantity": 1 }))
        .collect();
    let response = app.place(&token, Value::Array(lines)).await.expect(422);
    assert_eq!(response.error_fields(), ["items"]);

    let mismatch = app
        .post(
            "/api/orders",
            Some(&token),
            &json!({ "items": [{ "productId": "sku-a", "quantity": 2 }], "totalAmount": 199 }),
        )
        .await
        .expect(422);
    assert_eq!(mismatch.error_fields(), ["totalAmount"]);
    assert!(
        mismatch.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("200")
    );
    assert_eq!(app.stock("sku-a").await, 50, "nothing was reserved");
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let (app, token, _) = app_with_user().await;
    let padding = "x".repeat(70 * 1024);
    let body = json!({ "items": [{ "productId": "sku-a", "quantity": 1 }], "padding": padding });
    app.post("/api/orders", Some(&token), &body)
        .await
        .expect(413);
    app.post("/api/auth/register", None, &json!({ "email": padding }))
        .await
        .expect(413);
    app.post(
        "/api/auth/refresh",
        None,
        &json!({ "refreshToken": padding }),
    )
    .await
    .expect(413);
}

#[tokio::test]
async fn every_kind_of_bad_token_is_401() {
    let (app, _, user_id) = app_with_user().await;
    let valid_claims =
        |exp: i64| json!({ "sub": user_id, "iat": now(), "nbf": now(), "exp": exp, "jti": "x" });
    let expired = sign(
        &json!({ "sub": user_id, "iat": now() - 3600, "nbf": now() - 3600, "exp": now() - 600, "jti": "x" }),
        JWT_SECRET,
        Algorithm::HS256,
    );
    let other_secret = sign(
        &valid_claims(now() + 600),
        "another-secret-another-secret-another",
        Algorithm::HS256,
    );
    let other_algorithm = sign(&valid_claims(now() + 600), JWT_SECRET, Algorithm::HS512);
    let not_yet_valid = sign(
        &json!({ "sub": user_id, "iat": now(), "nbf": now() + 600, "exp": now() + 1200, "jti": "x" }),
        JWT_SECRET,
        Algorithm::HS256,
    );
    let no_subject = sign(
        &json!({ "iat": now(), "nbf": now(), "exp": now() + 600 }),
        JWT_SECRET,
        Algorithm::HS256,
    );
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(valid_claims(now() + 600).to_string())
    );
    let good = sign(&valid_claims(now() + 600), JWT_SECRET, Algorithm::HS256);
    // Claims changed (another user, a longer life) under the original signature.
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims = json!({ "sub": "01939d2e-0000-7000-8000-000000000000", "iat": now(),
                                "nbf": now(), "exp": now() + 86_400, "jti": "x" });
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_claims.to_string()),
        parts[2]
    );

    app.get("/api/auth/me", Some(&good)).await.expect(200);
    for (name, token) in [
        ("garbage", "garbage".to_owned()),
        ("expired", expired),
        ("another secret", other_secret),
        ("another algorithm", other_algorithm),
        ("not yet valid", not_yet_valid),
        ("no subject", no_subject),
        ("alg none", unsigned),
        ("tampered", tampered),
    ] {
        let response = app.get("/api/orders", Some(&token)).await;
        assert_eq!(response.status.as_u16(), 401, "{name} token");
        response.expect(401);
    }
    app.get("/api/orders", None).await.expect(401);
    app.send(
        app.request(Method::GET, "/api/auth/me")
            .header("authorization", "Basic dXNlcjpwYXNz"),
    )
    .await
    .expect(401);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let app = spawn_app().await;
    app.get("/api/nothing-here", None).await.expect(404);
    app.get("/", None).await.expect(404);
    app.send(app.request(Method::DELETE, "/api/orders"))
        .await
        .expect(405);
    app.send(app.request(Method::PUT, "/api/auth/login"))
        .await
        .expect(405);
}
