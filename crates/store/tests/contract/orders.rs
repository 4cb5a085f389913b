use orderflow_core::ports::{Placement, Shortage, Store, Transitioned};
use orderflow_core::{Order, OrderId, OrderStatus, Product, ProductId, ProductName};

use super::{given_products, given_user, now, order_of, product, stock_of};

pub async fn placement_reserves_stock_and_writes_order_and_outbox(store: &dyn Store) {
    let user = given_user(store, "buyer@example.com").await;
    let catalog = [product("mug", 1999, 10), product("tee", 1500, 3)];
    given_products(store, &catalog).await;
    let order = order_of(user, &catalog, &[("mug", 2), ("tee", 3)]);

    let placed = store.place_order(&order, None, None).await.unwrap();
    assert_eq!(placed, Placement::Placed(order.clone()));
    assert_eq!(stock_of(store, "mug").await, 8);
    assert_eq!(stock_of(store, "tee").await, 0);
    assert_eq!(store.order(order.id).await.unwrap(), Some(order.clone()));
    let outbox = store
        .claim_outbox(10, std::time::Duration::from_secs(60), now())
        .await
        .unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].order_id, order.id);
    assert!(store.order(OrderId::generate()).await.unwrap().is_none());
}

pub async fn reservation_is_all_lines_or_none(store: &dyn Store) {
    let user = given_user(store, "short@example.com").await;
    let catalog = [
        product("a", 100, 5),
        product("b", 100, 1),
        product("c", 100, 0),
    ];
    given_products(store, &catalog).await;
    let order = order_of(user, &catalog, &[("a", 2), ("b", 2), ("c", 1)]);

    let placed = store.place_order(&order, None, None).await.unwrap();
    let Placement::Insufficient(mut shortages) = placed else {
        panic!("expected a shortage, got {placed:?}");
    };
    shortages.sort_by(|x, y| x.product_id.cmp(&y.product_id));
    assert_eq!(
        shortages,
        [
            Shortage {
                product_id: ProductId::parse("b").unwrap(),
                requested: 2,
                available: 1
            },
            Shortage {
                product_id: ProductId::parse("c").unwrap(),
                requested: 1,
                available: 0
            },
        ]
    );
    assert_eq!(
        stock_of(store, "a").await,
        5,
        "the line that fit was not reserved either"
    );
    assert!(store.order(order.id).await.unwrap().is_none());
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
}

pub async fn changed_prices_write_nothing(store: &dyn Store) {
    placing_against_a_changed_product_writes_nothing(store, product("a", 120, 5)).await;
}

/// An order priced under a product's old name: the placement is told the catalog changed,
/// so that the order is priced again and records the name the product has now.
pub async fn renamed_products_write_nothing(store: &dyn Store) {
    let renamed = Product {
        name: ProductName::parse("A new name").unwrap(),
        ..product("a", 100, 5)
    };
    placing_against_a_changed_product_writes_nothing(store, renamed).await;
}

/// An order priced from product "a" (price 100, stock 5) as it was before it became
/// `changed`: the placement reports the catalog changed and writes nothing.
async fn placing_against_a_changed_product_writes_nothing(store: &dyn Store, changed: Product) {
    let user = given_user(store, "stale@example.com").await;
    let catalog = [product("a", 100, 5)];
    given_products(store, &catalog).await;
    let order = order_of(user, &catalog, &[("a", 1)]);
    given_products(store, &[changed]).await;

    assert_eq!(
        store.place_order(&order, None, None).await.unwrap(),
        Placement::CatalogChanged
    );
    assert_eq!(stock_of(store, "a").await, 5);
    assert!(store.order(order.id).await.unwrap().is_none());
}

pub async fn fifty_concurrent_placements_never_oversell(store: &dyn Store) {
    let user = given_user(store, "rush@example.com").await;
    let catalog = [product("hot", 500, 20)];
    given_products(store, &catalog).await;
    // All 50 are in flight at once; the adapter's own pool and locking decide the order.
    let placements = (0..50).map(|_| {
        let order = order_of(user, &catalog, &[("hot", 1)]);
        async move { store.place_order(&order, None, None).await.unwrap() }
    });
    let results = futures::future::join_all(placements).await;
    let placed = results
        .iter()
        .filter(|r| matches!(r, Placement::Placed(_)))
        .count();
    let short = results
        .iter()
        .filter(|r| matches!(r, Placement::Insufficient(_)))
        .count();
    assert_eq!((placed, short), (20, 30));
    assert_eq!(stock_of(store, "hot").await, 0);
    assert_eq!(store.outbox_backlog().await.unwrap(), 20);
}

/// A product "a" (price 100, stock 5) and an order of `quantity` of it by `email`'s user,
/// placed and moved to PROCESSING: the order as placed, and as that step left it.
pub async fn given_a_processing_order(
    store: &dyn Store,
    email: &str,
    quantity: i64,
) -> (Order, Order) {
    let user = given_user(store, email).await;
    let catalog = [product("a", 100, 5)];
    given_products(store, &catalog).await;
    let pending = order_of(user, &catalog, &[("a", quantity)]);
    store.place_order(&pending, None, None).await.unwrap();
    let to_processing = pending
        .transition(OrderStatus::Processing, None, now())
        .unwrap();
    let Transitioned::Applied(processing) = store
        .transition_order(&pending, &to_processing)
        .await
        .unwrap()
    else {
        panic!("PENDING -> PROCESSING applies");
    };
    (pending, processing)
}

pub async fn status_changes_are_compare_and_set(store: &dyn Store) {
    let (order, processing) = given_a_processing_order(store, "cas@example.com", 1).await;
    assert_eq!(processing.status, OrderStatus::Processing);
    assert_eq!(processing.history.len(), 2);

    // Same transition again (a redelivered message): the order is no longer PENDING.
    let to_processing = order
        .transition(OrderStatus::Processing, None, now())
        .unwrap();
    let again = store
        .transition_order(&order, &to_processing)
        .await
        .unwrap();
    assert_eq!(again, Transitioned::Conflict(Some(processing.clone())));
    let cancel = order
        .transition(OrderStatus::Cancelled, None, now())
        .unwrap();
    assert!(matches!(
        store.transition_order(&order, &cancel).await.unwrap(),
        Transitioned::Conflict(Some(o)) if o.status == OrderStatus::Processing
    ));

    let done = processing
        .transition(OrderStatus::Processed, None, now())
        .unwrap();
    let Transitioned::Applied(done) = store.transition_order(&processing, &done).await.unwrap()
    else {
        panic!("PROCESSING -> PROCESSED applies");
    };
    let stored = store.order(order.id).await.unwrap().unwrap();
    assert_eq!(stored, done);
    let statuses: Vec<_> = stored.history.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::Pending,
            OrderStatus::Processing,
            OrderStatus::Processed
        ]
    );
    assert_eq!(
        stock_of(store, "a").await,
        4,
        "a processed order keeps its stock"
    );
    assert_eq!(
        store
            .transition_order(
                &order_of(order.user_id, &[product("a", 100, 5)], &[("a", 1)]),
                &to_processing
            )
            .await
            .unwrap(),
        Transitioned::Conflict(None)
    );
}

pub async fn a_step_given_an_out_of_date_copy_is_decided_by_the_stored_order(store: &dyn Store) {
    let (pending, processing) = given_a_processing_order(store, "stale@example.com", 1).await;

    // The caller still holds the PENDING copy, with a step from PROCESSING.
    let fail = processing
        .transition(OrderStatus::Failed, Some("declined".into()), now())
        .unwrap();
    let Transitioned::Applied(failed) = store.transition_order(&pending, &fail).await.unwrap()
    else {
        panic!("the stored order is PROCESSING: the step applies");
    };
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(failed.history.len(), 3, "{failed:?}");
    assert_eq!(store.order(pending.id).await.unwrap().unwrap(), failed);
    assert_eq!(stock_of(store, "a").await, 5, "failing gave the stock back");

    // Stepped again once the order has moved on: with a copy in the step's status, and
    // with the out-of-date one.
    for copy in [&processing, &pending] {
        assert_eq!(
            store.transition_order(copy, &fail).await.unwrap(),
            Transitioned::Conflict(Some(failed.clone())),
            "given the {} copy",
            copy.status
        );
    }
    assert_eq!(stock_of(store, "a").await, 5, "given back once");
}

pub async fn cancelling_and_failing_release_stock(store: &dyn Store) {
    let user = given_user(store, "release@example.com").await;
    let catalog = [product("a", 100, 10), product("b", 100, 10)];
    given_products(store, &catalog).await;
    let cancelled = order_of(user, &catalog, &[("a", 3), ("b", 1)]);
    let failed = order_of(user, &catalog, &[("a", 2)]);
    store.place_order(&cancelled, None, None).await.unwrap();
    store.place_order(&failed, None, None).await.unwrap();
    assert_eq!(
        (stock_of(store, "a").await, stock_of(store, "b").await),
        (5, 9)
    );

    let cancel = cancelled
        .transition(
            OrderStatus::Cancelled,
            Some("changed my mind".into()),
            now(),
        )
        .unwrap();
    let Transitioned::Applied(after) = store.transition_order(&cancelled, &cancel).await.unwrap()
    else {
        panic!("cancel applies");
    };
    assert_eq!(
        after.history.last().unwrap().reason.as_deref(),
        Some("changed my mind")
    );
    assert_eq!(
        (stock_of(store, "a").await, stock_of(store, "b").await),
        (8, 10)
    );
    // Cancelling twice gives nothing back twice.
    assert!(matches!(
        store.transition_order(&cancelled, &cancel).await.unwrap(),
        Transitioned::Conflict(_)
    ));
    assert_eq!(stock_of(store, "a").await, 8);

    let fail = failed
        .transition(OrderStatus::Failed, Some("payment declined".into()), now())
        .unwrap();
    store.transition_order(&failed, &fail).await.unwrap();
    assert_eq!(stock_of(store, "a").await, 10);
}

pub async fn orders_list_newest_first_by_cursor(store: &dyn Store) {
    let user = given_user(store, "lister@example.com").await;
    let other = given_user(store, "other@example.com").await;
    let catalog = [product("a", 100, 100)];
    given_products(store, &catalog).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let order = order_of(user, &catalog, &[("a", 1)]);
        store.place_order(&order, None, None).await.unwrap();
        ids.push(order.id);
    }
    store
        .place_order(&order_of(other, &catalog, &[("a", 1)]), None, None)
        .await
        .unwrap();
    ids.reverse();

    let page = |o: Vec<orderflow_core::Order>| o.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let first = page(store.list_orders(user, None, None, 2).await.unwrap());
    assert_eq!(first, ids[..2]);
    let second = page(
        store
            .list_orders(user, None, Some(first[1]), 2)
            .await
            .unwrap(),
    );
    assert_eq!(second, ids[2..4]);
    let last = page(
        store
            .list_orders(user, None, Some(second[1]), 2)
            .await
            .unwrap(),
    );
    assert_eq!(last, ids[4..]);

    let newest = store.order(ids[0]).await.unwrap().unwrap();
    let cancel = newest
        .transition(OrderStatus::Cancelled, None, now())
        .unwrap();
    store.transition_order(&newest, &cancel).await.unwrap();
    let cancelled = page(
        store
            .list_orders(user, Some(OrderStatus::Cancelled), None, 10)
            .await
            .unwrap(),
    );
    assert_eq!(cancelled, [ids[0]]);
    let pending = store
        .list_orders(user, Some(OrderStatus::Pending), None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 4);
}
