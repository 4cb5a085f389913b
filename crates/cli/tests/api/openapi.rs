use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

/// Every route the router serves, with the statuses the tests see it answer.
const OPERATIONS: &[(&str, &str, &[&str])] = &[
    (
        "/api/auth/register",
        "post",
        &["201", "400", "409", "422", "429"],
    ),
    (
        "/api/auth/login",
        "post",
        &["200", "400", "401", "422", "429"],
    ),
    (
        "/api/auth/refresh",
        "post",
        &["200", "400", "401", "422", "429"],
    ),
    ("/api/auth/logout", "post", &["204", "400", "422"]),
    ("/api/auth/me", "get", &["200", "401"]),
    ("/api/inventory", "get", &["200", "422"]),
    ("/api/inventory/{productId}", "get", &["200", "404"]),
    (
        "/api/orders",
        "post",
        &["201", "400", "401", "409", "413", "422"],
    ),
    ("/api/orders", "get", &["200", "401", "422"]),
    ("/api/orders/{id}", "get", &["200", "401", "404"]),
    (
        "/api/orders/{id}/cancel",
        "post",
        &["200", "401", "404", "409"],
    ),
    (
        "/api/orders/{id}/events",
        "get",
        &["200", "401", "404", "429"],
    ),
    ("/healthz", "get", &["200"]),
    ("/readyz", "get", &["200", "503"]),
    ("/metrics", "get", &["200"]),
];

fn schema<'a>(document: &'a Value, name: &str) -> &'a Value {
    &document["components"]["schemas"][name]
}

fn property_names(schema: &Value) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn the_document_describes_every_route_and_status() {
    let app = spawn_app().await;
    let document = app.get("/api/openapi.json", None).await.expect(200).json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = document["paths"].as_object().unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((path.clone(), method.clone()));
            }
        }
    }
    let served: BTreeSet<_> = OPERATIONS
        .iter()
        .map(|(p, m, _)| ((*p).to_owned(), (*m).to_owned()))
        .collect();
    assert_eq!(documented, served);
    for (path, method, statuses) in OPERATIONS {
        let responses = &paths[*path][*method]["responses"];
        for status in *statuses {
            assert!(
                responses.get(*status).is_some(),
                "{method} {path} does not document {status}"
            );
        }
    }
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn documented_schemas_match_real_responses() {
    let app = spawn_app().await;
    let document = app.get("/api/openapi.json", None).await.expect(200).json();
    app.seed(&[("sku-a", 100, 10)]).await;
    app.register("schema@example.com").await.expect(201);
    let session = app
        .login("schema@example.com", crate::helpers::PASSWORD)
        .await
        .expect(200)
        .json();
    let token = session["accessToken"].as_str().unwrap();
    assert_eq!(
        keys(&session),
        property_names(schema(&document, "SessionView"))
    );
    assert_eq!(
        keys(&session["user"]),
        property_names(schema(&document, "UserView"))
    );

    let order = app
        .place(token, json!([{ "productId": "sku-a", "quantity": 1 }]))
        .await
        .expect(201)
        .json();
    assert_eq!(keys(&order), property_names(schema(&document, "OrderView")));
    assert_eq!(
        keys(&order["items"][0]),
        property_names(schema(&document, "OrderLineView"))
    );
    let status_change = property_names(schema(&document, "StatusChangeView"));
    assert!(keys(&order["statusHistory"][0]).is_subset(&status_change));

    let page = app.get("/api/inventory", None).await.expect(200).json();
    assert_eq!(
        keys(&page),
        property_names(schema(&document, "InventoryPage"))
    );
    assert_eq!(
        keys(&page["items"][0]),
        property_names(schema(&document, "InventoryItem"))
    );

    let problem = app
        .place(token, json!([{ "productId": "sku-a", "quantity": 0 }]))
        .await
        .expect(422)
        .json();
    assert!(keys(&problem).is_subset(&property_names(schema(&document, "Problem"))));
    let statuses: Vec<String> = schema(&document, "StatusView")["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        statuses,
        ["PENDING", "PROCESSING", "PROCESSED", "FAILED", "CANCELLED"]
    );
    app.send(app.request(Method::GET, "/healthz"))
        .await
        .expect(200);
    let ready = app.get("/readyz", None).await.expect(200).json();
    assert_eq!(
        ready["checks"],
        json!({ "store": "ok", "cache": "ok", "queue": "ok" })
    );
}
