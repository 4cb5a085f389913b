use std::time::Duration;

use orderflow_core::ports::{IdempotencyClaim, NewRefreshToken, Purged, Rotation, Store};
use orderflow_core::{
    IdempotencyKey, OrderRequest, RefreshToken, RequestFingerprint, TokenFamilyId,
};

use super::{given_products, given_user, now, order_of, product};

pub async fn purging_removes_only_what_has_expired(store: &dyn Store) {
    let user = given_user(store, "purge@example.com").await;
    let token = |lifetime: i64| {
        let token = RefreshToken::generate().unwrap();
        let record = NewRefreshToken {
            hash: token.hash(),
            family: TokenFamilyId::generate(),
            user_id: user,
            issued_at: now(),
            expires_at: now() + time::Duration::seconds(lifetime),
        };
        (token, record)
    };
    let (expired, expired_record) = token(-10);
    let (live, live_record) = token(3600);
    store.insert_refresh_token(&expired_record).await.unwrap();
    store.insert_refresh_token(&live_record).await.unwrap();

    let catalog = [product("a", 100, 10)];
    given_products(store, &catalog).await;
    let request = OrderRequest::parse(&[("a".into(), 1)], None).unwrap();
    let claim = IdempotencyClaim {
        key: IdempotencyKey::parse("purge-me").unwrap(),
        fingerprint: RequestFingerprint::of_order_request(&request),
        expired_before: now() - Duration::from_secs(86_400),
    };
    let order = order_of(user, &catalog, &[("a", 1)]);
    store.place_order(&order, Some(&claim), None).await.unwrap();
    let published = store
        .claim_outbox(10, Duration::from_secs(60), now())
        .await
        .unwrap();
    store
        .mark_outbox_sent(&[published[0].id.clone()], now())
        .await
        .unwrap();

    // Nothing is old enough yet but the expired token (a store with its own expiry, such
    // as MongoDB's TTL monitor, may have removed that one already).
    let earlier = now() - Duration::from_secs(60);
    let purged = store.purge(now(), earlier, earlier).await.unwrap();
    assert!(purged.refresh_tokens <= 1, "{purged:?}");
    assert_eq!((purged.idempotency_keys, purged.outbox_entries), (0, 0));
    assert!(
        store
            .idempotent_replay(user, &claim.key, claim.expired_before)
            .await
            .unwrap()
            .is_some()
    );

    // A day later, the key and the published entry go too; the order stays.
    let later = now() + Duration::from_secs(60);
    let purged = store.purge(now(), later, later).await.unwrap();
    assert_eq!(
        purged,
        Purged {
            refresh_tokens: 0,
            idempotency_keys: 1,
            outbox_entries: 1,
            emails: 0,
        }
    );
    assert!(store.order(order.id).await.unwrap().is_some());
    assert!(
        store
            .idempotent_replay(user, &claim.key, claim.expired_before)
            .await
            .unwrap()
            .is_none()
    );

    let next = RefreshToken::generate().unwrap();
    let rotated = store
        .rotate_refresh_token(
            &live.hash(),
            &next.hash(),
            now() + time::Duration::hours(1),
            now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(rotated, Rotation::Rotated { .. }),
        "the live token is kept"
    );
    let rotated = store
        .rotate_refresh_token(
            &expired.hash(),
            &next.hash(),
            now() + time::Duration::hours(1),
            now(),
        )
        .await
        .unwrap();
    assert_eq!(rotated, Rotation::Rejected);
}
