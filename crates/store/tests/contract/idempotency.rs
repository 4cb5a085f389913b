use orderflow_core::ports::{IdempotencyClaim, Placement, Store};
use orderflow_core::{IdempotencyKey, OrderRequest, RequestFingerprint};
use time::Duration;

use super::{given_products, given_user, now, order_of, product, stock_of};

fn claim(key: &str, quantity: i64) -> IdempotencyClaim {
    let request = OrderRequest::parse(&[("a".into(), quantity)], None).unwrap();
    IdempotencyClaim {
        key: IdempotencyKey::parse(key).unwrap(),
        fingerprint: RequestFingerprint::of_order_request(&request),
        expired_before: now() - Duration::hours(24),
    }
}

pub async fn idempotency_keys_replay_the_first_response(store: &dyn Store) {
    let user = given_user(store, "retry@example.com").await;
    let other = given_user(store, "someone@example.com").await;
    let catalog = [product("a", 100, 10)];
    given_products(store, &catalog).await;
    let first = order_of(user, &catalog, &[("a", 1)]);
    let key = claim("key-1", 1);

    assert_eq!(
        store.place_order(&first, Some(&key), None).await.unwrap(),
        Placement::Placed(first.clone())
    );
    let replay = store
        .idempotent_replay(user, &key.key, key.expired_before)
        .await
        .unwrap()
        .expect("the key is stored with its response");
    assert_eq!(
        (replay.status, &replay.order, &replay.fingerprint),
        (201, &first, &key.fingerprint)
    );

    // A retry that raced past the lookup: the claim inside the transaction catches it.
    let retry = order_of(user, &catalog, &[("a", 1)]);
    assert_eq!(
        store.place_order(&retry, Some(&key), None).await.unwrap(),
        Placement::KeyAlreadyUsed(replay.clone())
    );
    assert_eq!(stock_of(store, "a").await, 9, "no second reservation");
    assert!(store.order(retry.id).await.unwrap().is_none());

    // The stored response stays the first one even after the order moves on.
    let cancel = first
        .transition(orderflow_core::OrderStatus::Cancelled, None, now())
        .unwrap();
    store.transition_order(&first, &cancel).await.unwrap();
    let replay = store
        .idempotent_replay(user, &key.key, key.expired_before)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replay.order.status, orderflow_core::OrderStatus::Pending);

    // Keys belong to their user.
    assert!(
        store
            .idempotent_replay(other, &key.key, key.expired_before)
            .await
            .unwrap()
            .is_none()
    );
    let theirs = order_of(other, &catalog, &[("a", 1)]);
    assert!(matches!(
        store.place_order(&theirs, Some(&key), None).await.unwrap(),
        Placement::Placed(_)
    ));
}

pub async fn expired_idempotency_keys_can_be_claimed_again(store: &dyn Store) {
    let user = given_user(store, "later@example.com").await;
    let catalog = [product("a", 100, 10)];
    given_products(store, &catalog).await;
    let first = order_of(user, &catalog, &[("a", 1)]);
    store
        .place_order(&first, Some(&claim("key-2", 1)), None)
        .await
        .unwrap();

    // A day later, as seen from a claim whose window starts after the first placement.
    let mut later = claim("key-2", 2);
    later.expired_before = now() + Duration::seconds(1);
    assert!(
        store
            .idempotent_replay(user, &later.key, later.expired_before)
            .await
            .unwrap()
            .is_none()
    );
    let second = order_of(user, &catalog, &[("a", 2)]);
    assert_eq!(
        store
            .place_order(&second, Some(&later), None)
            .await
            .unwrap(),
        Placement::Placed(second.clone())
    );
    assert_eq!(stock_of(store, "a").await, 7);
}
