use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_orders_never_oversell_a_stock_of_one_hundred() {
    let app = spawn_app().await;
    app.seed(&[("sku-hot", 999, 100)]).await;
    let token = app.user("rush@example.com").await;
    let placements =
        (0..200).map(|_| app.place(&token, json!([{ "productId": "sku-hot", "quantity": 1 }])));
    let responses = futures::future::join_all(placements).await;

    let created = responses
        .iter()
        .filter(|r| r.status.as_u16() == 201)
        .count();
    let mut statuses: Vec<_> = responses.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    assert_eq!(created, 100, "statuses seen: {statuses:?}");
    let conflicts: Vec<_> = responses
        .into_iter()
        .filter(|r| r.status.as_u16() != 201)
        .collect();
    assert_eq!(conflicts.len(), 100);
    for conflict in conflicts {
        let problem = conflict.expect(409).json();
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .ends_with("/insufficient-stock")
        );
    }
    assert_eq!(app.stock("sku-hot").await, 0);
}
