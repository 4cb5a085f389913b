use std::collections::HashSet;

use crate::helpers::spawn_app;

#[tokio::test]
async fn inventory_pages_through_every_product_once() {
    let app = spawn_app().await;
    let products: Vec<(String, i64, u32)> = (0..7)
        .map(|i| (format!("sku-{i:02}"), 100 + i, 10))
        .collect();
    let as_refs: Vec<_> = products
        .iter()
        .map(|(id, p, s)| (id.as_str(), *p, *s))
        .collect();
    app.seed(&as_refs).await;

    let mut seen = Vec::new();
    let mut path = "/api/inventory?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let page = app.get(&path, None).await.expect(200).json();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["productId"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/api/inventory?limit=3&cursor={cursor}"),
            None => {
                assert!(page["nextCursor"].is_null());
                break;
            }
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<_> = products.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(seen, expected);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
}

#[tokio::test]
async fn one_product_and_unknown_ones() {
    let app = spawn_app().await;
    app.seed(&[("sku-mug", 1999, 12)]).await;
    let item = app
        .get("/api/inventory/sku-mug", None)
        .await
        .expect(200)
        .json();
    assert_eq!(
        item,
        serde_json::json!({ "productId": "sku-mug", "name": "Product sku-mug",
                            "unitPrice": 1999, "currency": "USD", "stock": 12 })
    );
    app.get("/api/inventory/sku-nope", None).await.expect(404);
    app.get("/api/inventory/bad%20id", None).await.expect(404);
}

#[tokio::test]
async fn bad_paging_parameters_are_422() {
    let app = spawn_app().await;
    for query in ["limit=0", "limit=101", "limit=ten", "cursor=%21%21"] {
        let response = app
            .get(&format!("/api/inventory?{query}"), None)
            .await
            .expect(422);
        assert_eq!(response.error_fields().len(), 1, "{query}");
    }
}
