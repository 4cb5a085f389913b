use std::sync::Arc;

use orderflow::config::RunArgs;
use orderflow_core::ports::{OrderProcessor, ProcessingError};
use orderflow_core::{Currency, Money, Order, Product, ProductId, ProductName};
use reqwest::Method;
use serde_json::json;

use std::time::Duration;

use crate::helpers::{TestApp, spawn_app};

#[tokio::test]
async fn placing_prices_from_the_inventory_and_reserves_stock() {
    let app = spawn_app().await;
    app.seed(&[("sku-mug", 1999, 10), ("sku-tee", 1500, 5)])
        .await;
    let token = app.user("buyer@example.com").await;

    let response = app
        .post(
            "/api/orders",
            Some(&token),
            &json!({ "items": [
                { "productId": "sku-mug", "quantity": 2, "unitPrice": 1 },
                { "productId": "sku-tee", "quantity": 1 },
                { "productId": "sku-mug", "quantity": 1 }
            ], "totalAmount": 7497 }),
        )
        .await
        .expect(201);
    let order = response.json();
    let id = order["id"].as_str().unwrap();
    assert_eq!(
        response.header("location"),
        Some(format!("/api/orders/{id}").as_str())
    );
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["currency"], "USD");
    assert_eq!(
        order["totalAmount"], 7497,
        "the client's unitPrice is ignored"
    );
    assert_eq!(
        order["items"],
        json!([
            { "productId": "sku-mug", "name": "Product sku-mug", "quantity": 3,
              "unitPrice": 1999, "lineTotal": 5997 },
            { "productId": "sku-tee", "name": "Product sku-tee", "quantity": 1,
              "unitPrice": 1500, "lineTotal": 1500 }
        ])
    );
    assert_eq!(order["statusHistory"].as_array().unwrap().len(), 1);
    assert_eq!(order["statusHistory"][0]["status"], "PENDING");
    assert_eq!(order["createdAt"], order["updatedAt"]);
    assert_eq!(app.stock("sku-mug").await, 7);
    assert_eq!(app.stock("sku-tee").await, 4);
}

#[tokio::test]
async fn orders_are_cached_and_private_to_their_owner() {
    let app = spawn_app().await;
    app.seed(&[("sku-mug", 1999, 10)]).await;
    let owner = app.user("owner@example.com").await;
    let stranger = app.user("stranger@example.com").await;
    let placed = app
        .place(&owner, json!([{ "productId": "sku-mug", "quantity": 1 }]))
        .await
        .expect(201)
        .json();
    let path = format!("/api/orders/{}", placed["id"].as_str().unwrap());

    let first = app.get(&path, Some(&owner)).await.expect(200);
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(first.json(), placed);
    let second = app.get(&path, Some(&owner)).await.expect(200);
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(second.header("content-type"), Some("application/json"));
    assert_eq!(second.json(), placed);

    // Another user cannot tell it exists: same 404 as a made-up id, cached or not.
    let theirs = app.get(&path, Some(&stranger)).await.expect(404);
    let made_up = app
        .get(
            "/api/orders/01939d2e-0000-7000-8000-000000000000",
            Some(&stranger),
        )
        .await
        .expect(404);
    assert_eq!(theirs.text, made_up.text);
    app.get("/api/orders/not-a-uuid", Some(&owner))
        .await
        .expect(404);
    let cancel = app
        .send(
            app.request(Method::POST, &format!("{path}/cancel"))
                .bearer_auth(&stranger),
        )
        .await
        .expect(404);
    let events = app
        .get(&format!("{path}/events"), Some(&stranger))
        .await
        .expect(404);
    assert_eq!(cancel.json()["type"], made_up.json()["type"]);
    assert_eq!(events.json()["type"], made_up.json()["type"]);
    // And the order is untouched.
    let mine = app.get(&path, Some(&owner)).await.expect(200).json();
    assert_eq!(mine["status"], placed["status"]);
}

#[tokio::test]
async fn listing_is_newest_first_paginated_and_filtered() {
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 100)]).await;
    let token = app.user("lister@example.com").await;
    let other = app.user("other@example.com").await;
    app.place(&other, json!([{ "productId": "sku-a", "quantity": 1 }]))
        .await
        .expect(201);
    let mut ids = Vec::new();
    for quantity in 1..=5 {
        let order = app
            .place(
                &token,
                json!([{ "productId": "sku-a", "quantity": quantity }]),
            )
            .await
            .expect(201)
            .json();
        ids.push(order["id"].as_str().unwrap().to_owned());
    }
    ids.reverse();

    let mut seen = Vec::new();
    let mut path = "/api/orders?limit=2".to_owned();
    loop {
        let page = app.get(&path, Some(&token)).await.expect(200).json();
        for order in page["items"].as_array().unwrap() {
            seen.push(order["id"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/orders?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids, "newest first, each once, only the caller's");

    app.send(
        app.request(Method::POST, &format!("/api/orders/{}/cancel", ids[1]))
            .bearer_auth(&token),
    )
    .await
    .expect(200);
    let cancelled = app
        .get("/api/orders?status=CANCELLED", Some(&token))
        .await
        .expect(200)
        .json();
    let cancelled: Vec<_> = cancelled["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cancelled, [ids[1].clone()]);
    let default_page = app
        .get("/api/orders", Some(&token))
        .await
        .expect(200)
        .json();
    assert_eq!(default_page["items"].as_array().unwrap().len(), 5);
    assert!(default_page["nextCursor"].is_null());
    for query in ["status=SHIPPED", "limit=0", "limit=101", "cursor=zzz"] {
        app.get(&format!("/api/orders?{query}"), Some(&token))
            .await
            .expect(422);
    }
}

#[tokio::test]
async fn cancelling_gives_the_stock_back_once() {
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 10), ("sku-b", 250, 4)]).await;
    let token = app.user("cancel@example.com").await;
    let order = app
        .place(&token, json!([{ "productId": "sku-a", "quantity": 3 }, { "productId": "sku-b", "quantity": 4 }]))
        .await
        .expect(201)
        .json();
    assert_eq!((app.stock("sku-a").await, app.stock("sku-b").await), (7, 0));
    let path = format!("/api/orders/{}", order["id"].as_str().unwrap());
    // Read it once so the cache holds the PENDING copy.
    app.get(&path, Some(&token)).await.expect(200);

    let cancelled = app
        .send(
            app.request(Method::POST, &format!("{path}/cancel"))
                .bearer_auth(&token),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(cancelled["status"], "CANCELLED");
    let history = cancelled["statusHistory"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["status"], "CANCELLED");
    assert!(history[1]["reason"].is_string());
    assert_eq!(
        (app.stock("sku-a").await, app.stock("sku-b").await),
        (10, 4)
    );

    let after = app.get(&path, Some(&token)).await.expect(200);
    assert_eq!(
        after.json()["status"],
        "CANCELLED",
        "the cached PENDING copy was dropped"
    );

    let again = app
        .send(
            app.request(Method::POST, &format!("{path}/cancel"))
                .bearer_auth(&token),
        )
        .await
        .expect(409);
    assert!(
        again.json()["detail"]
            .as_str()
            .unwrap()
            .contains("CANCELLED")
    );
    assert_eq!(
        (app.stock("sku-a").await, app.stock("sku-b").await),
        (10, 4)
    );
}

#[tokio::test]
async fn insufficient_stock_names_each_short_line_and_changes_nothing() {
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 5), ("sku-b", 100, 2), ("sku-c", 100, 9)])
        .await;
    let token = app.user("short@example.com").await;
    let response = app
        .place(
            &token,
            json!([
                { "productId": "sku-c", "quantity": 1 },
                { "productId": "sku-a", "quantity": 6 },
                { "productId": "sku-b", "quantity": 5 }
            ]),
        )
        .await
        .expect(409);
    let problem = response.json();
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("/insufficient-stock")
    );
    assert_eq!(problem["detail"], "2 items cannot be reserved");
    assert_eq!(
        problem["errors"],
        json!([
            { "field": "items[1].quantity", "message": "requested 6, available 5" },
            { "field": "items[2].quantity", "message": "requested 5, available 2" }
        ])
    );
    assert_eq!(app.stock("sku-c").await, 9, "all or nothing");
    let list = app
        .get("/api/orders", Some(&token))
        .await
        .expect(200)
        .json();
    assert!(list["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_response() {
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 10)]).await;
    let token = app.user("retry@example.com").await;
    let other = app.user("retry2@example.com").await;
    let body = json!({ "items": [{ "productId": "sku-a", "quantity": 2 }] });
    let place = |token: &str, key: &str, body: &serde_json::Value| {
        app.request(Method::POST, "/api/orders")
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
    };

    let first = app.send(place(&token, "order-1", &body)).await.expect(201);
    assert!(first.header("idempotent-replayed").is_none());
    let replay = app.send(place(&token, "order-1", &body)).await.expect(201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.text, first.text, "the same body");
    assert_eq!(replay.header("location"), first.header("location"));
    assert_eq!(app.stock("sku-a").await, 8, "no second order");

    // Replays return the response as it was, even after the order moved on.
    let path = first.header("location").unwrap().to_owned();
    app.send(
        app.request(Method::POST, &format!("{path}/cancel"))
            .bearer_auth(&token),
    )
    .await
    .expect(200);
    let later = app.send(place(&token, "order-1", &body)).await.expect(201);
    assert_eq!(later.text, first.text);

    let different = json!({ "items": [{ "productId": "sku-a", "quantity": 3 }] });
    let mismatch = app
        .send(place(&token, "order-1", &different))
        .await
        .expect(422);
    assert_eq!(mismatch.error_fields(), ["Idempotency-Key"]);

    // Keys are per user.
    let theirs = app.send(place(&other, "order-1", &body)).await.expect(201);
    assert!(theirs.header("idempotent-replayed").is_none());
    assert_ne!(theirs.json()["id"], first.json()["id"]);

    let too_long = "k".repeat(256);
    app.send(place(&token, &too_long, &body)).await.expect(422);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_make_one_order() {
    let app = spawn_app().await;
    app.seed(&[("sku-a", 100, 100)]).await;
    let token = app.user("double@example.com").await;
    let body = json!({ "items": [{ "productId": "sku-a", "quantity": 1 }] });
    let requests = (0..10).map(|_| {
        app.send(
            app.request(Method::POST, "/api/orders")
                .bearer_auth(&token)
                .header("idempotency-key", "same-click")
                .json(&body),
        )
    });
    let responses = futures::future::join_all(requests).await;
    let ids: std::collections::HashSet<_> = responses
        .into_iter()
        .map(|r| r.expect(201).json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.stock("sku-a").await, 99);
}

/// Reads of products by id the store has answered, from the service's metrics.
async fn product_reads(app: &TestApp) -> f64 {
    app.metric_sum(
        "orderflow_dependency_operation_duration_seconds_count",
        "operation=\"products_by_ids\"",
    )
    .await
}

#[tokio::test]
async fn placements_price_from_the_products_last_read_until_the_catalog_changes() {
    let app = spawn_app().await;
    app.seed(&[("sku-mug", 1999, 10)]).await;
    let token = app.user("memo@example.com").await;
    let items = json!([{ "productId": "sku-mug", "quantity": 1 }]);
    for _ in 0..3 {
        let order = app.place(&token, items.clone()).await.expect(201).json();
        assert_eq!(order["totalAmount"], 1999);
    }
    assert_eq!(
        product_reads(&app).await,
        1.0,
        "priced three times, read once"
    );

    // Changed by another writer of the catalog (a seeding Job, another replica).
    app.seed_products(&[Product {
        id: ProductId::parse("sku-mug").unwrap(),
        name: ProductName::parse("Mug, blue").unwrap(),
        unit_price: Money::new(2500, Currency::USD).unwrap(),
        stock: 10,
    }])
    .await;
    let order = app.place(&token, items.clone()).await.expect(201).json();
    assert_eq!(
        order["items"],
        json!([{ "productId": "sku-mug", "name": "Mug, blue", "quantity": 1,
                 "unitPrice": 2500, "lineTotal": 2500 }])
    );
    assert_eq!(order["totalAmount"], 2500);
    assert_eq!(app.stock("sku-mug").await, 9);
    assert_eq!(product_reads(&app).await, 2.0, "read again once it changed");
}

/// Opens `token`'s event stream of order `id` and keeps it open (its first event read).
async fn open_stream(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    let mut response = app.open_events(token, id).await;
    response
        .chunk()
        .await
        .unwrap()
        .expect("the current status first");
    response
}

#[tokio::test]
async fn event_streams_are_capped_per_user_and_in_all() {
    let app = crate::helpers::spawn_app_with(|args| {
        args.event_streams_per_user = Some("2".into());
        args.event_streams_max = Some("3".into());
    })
    .await;
    app.seed(&[("sku-stream", 100, 100)]).await;
    let (alice, bob, carol) = (
        app.user("alice@example.com").await,
        app.user("bob@example.com").await,
        app.user("carol@example.com").await,
    );
    let order = |token: String| {
        let app = &app;
        async move { app.place_one(&token, "sku-stream", 1).await }
    };
    let (a, b, c) = (
        order(alice.clone()).await,
        order(bob.clone()).await,
        order(carol.clone()).await,
    );
    let path = |id: &str| format!("/api/orders/{id}/events");

    let first = open_stream(&app, &alice, &a).await;
    let _second = open_stream(&app, &alice, &a).await;
    let refused = app.get(&path(&a), Some(&alice)).await.expect(429);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    assert!(refused.header("retry-after").is_some());
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("2 event streams per user")
    );

    let _bobs = open_stream(&app, &bob, &b).await;
    app.get(&path(&c), Some(&carol)).await.expect(429);

    // A stream whose client went away gives its place back.
    drop(first);
    crate::helpers::eventually(Duration::from_secs(5), "a freed stream place", || async {
        let response = app
            .request(Method::GET, &path(&c))
            .bearer_auth(&carol)
            .send()
            .await
            .unwrap();
        (response.status() == 200).then_some(())
    })
    .await;
}

const STREAMS: usize = 1_000;

fn room_for_the_streams(args: &mut RunArgs) {
    args.event_streams_per_user = Some(STREAMS.to_string());
    args.event_streams_max = Some(STREAMS.to_string());
}

#[tokio::test]
async fn a_thousand_idle_streams_on_one_order_of_api_share_its_re_reads() {
    // `orderflow api` without Redis: the streams hear the worker elsewhere only by
    // re-reading the order (every 500 ms by default), and it stays PENDING.
    let app = crate::helpers::spawn_app_with(room_for_the_streams).await;
    streams_on_one_order_read_the_store_rarely(&app).await;
}

#[tokio::test]
async fn a_thousand_idle_streams_on_one_order_of_serve_share_its_re_reads() {
    // `orderflow serve`: the worker's changes reach the streams in-process; the order is
    // held PROCESSING by a payment step that does not answer.
    let app = crate::helpers::spawn_serve(Arc::new(NeverAnswers), room_for_the_streams).await;
    streams_on_one_order_read_the_store_rarely(&app).await;
}

/// A payment step that does not answer.
struct NeverAnswers;

#[async_trait::async_trait]
impl OrderProcessor for NeverAnswers {
    async fn process(&self, _order: &Order) -> Result<(), ProcessingError> {
        std::future::pending().await
    }
}

/// Opens [`STREAMS`] event streams on one order of `app` and measures the store reads of
/// orders they cause while nothing happens.
async fn streams_on_one_order_read_the_store_rarely(app: &TestApp) {
    app.seed(&[("sku-watched", 100, 10)]).await;
    let token = app.user("watcher@example.com").await;
    let id = app.place_one(&token, "sku-watched", 1).await;
    let mut streams = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        streams.push(open_stream(app, &token, &id).await);
    }
    let reads = || {
        app.metric_sum(
            "orderflow_dependency_operation_duration_seconds_count",
            "operation=\"order\"",
        )
    };
    let (before, started) = (reads().await, std::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let per_second = (reads().await - before) / started.elapsed().as_secs_f64();
    eprintln!("{STREAMS} idle streams made {per_second:.1} store reads of orders a second");
    assert!(
        per_second < 20.0,
        "{STREAMS} idle streams made {per_second:.0} store reads a second"
    );
    drop(streams);
}
