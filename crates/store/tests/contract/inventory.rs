use orderflow_core::ProductId;
use orderflow_core::ports::{Store, UpsertSummary};

use super::{given_products, product};

pub async fn upserts_report_created_updated_unchanged(store: &dyn Store) {
    let first = [product("a", 100, 5), product("b", 200, 5)];
    let summary = store.upsert_products(&first).await.unwrap();
    assert_eq!(
        summary,
        UpsertSummary {
            created: 2,
            updated: 0,
            unchanged: 0
        }
    );

    let second = [
        product("a", 100, 5),
        product("b", 250, 7),
        product("c", 1, 1),
    ];
    let summary = store.upsert_products(&second).await.unwrap();
    assert_eq!(
        summary,
        UpsertSummary {
            created: 1,
            updated: 1,
            unchanged: 1
        }
    );

    let b = store
        .product(&ProductId::parse("b").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b, second[1]);
    let summary = store.upsert_products(&second).await.unwrap();
    assert_eq!(
        summary,
        UpsertSummary {
            created: 0,
            updated: 0,
            unchanged: 3
        }
    );
}

pub async fn products_list_in_id_order_from_a_cursor(store: &dyn Store) {
    let products: Vec<_> = ["d", "a", "c", "b", "e"]
        .iter()
        .map(|id| product(id, 10, 1))
        .collect();
    given_products(store, &products).await;
    let ids = |page: Vec<orderflow_core::Product>| {
        page.into_iter()
            .map(|p| p.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.list_products(None, 3).await.unwrap()),
        ["a", "b", "c"]
    );
    let after = ProductId::parse("c").unwrap();
    assert_eq!(
        ids(store.list_products(Some(&after), 3).await.unwrap()),
        ["d", "e"]
    );
    let some = store
        .products_by_ids(&[
            ProductId::parse("e").unwrap(),
            ProductId::parse("zz").unwrap(),
            ProductId::parse("a").unwrap(),
            ProductId::parse("e").unwrap(),
        ])
        .await
        .unwrap();
    let mut some = ids(some);
    some.sort();
    assert_eq!(
        some,
        ["a", "e"],
        "each known product once, the unknown left out"
    );
    assert!(
        store
            .product(&ProductId::parse("zz").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}
