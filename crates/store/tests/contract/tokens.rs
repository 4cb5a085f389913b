use orderflow_core::ports::{NewRefreshToken, Rotation, Store};
use orderflow_core::{RefreshToken, TokenFamilyId, UserId};
use time::Duration;

use super::{given_user, now};

async fn issue(
    store: &dyn Store,
    user: UserId,
    family: TokenFamilyId,
    ttl: Duration,
) -> RefreshToken {
    let token = RefreshToken::generate().unwrap();
    store
        .insert_refresh_token(&NewRefreshToken {
            hash: token.hash(),
            family,
            user_id: user,
            issued_at: now(),
            expires_at: now() + ttl,
        })
        .await
        .unwrap();
    token
}

async fn rotate(store: &dyn Store, presented: &RefreshToken) -> (Rotation, RefreshToken) {
    let next = RefreshToken::generate().unwrap();
    let rotation = store
        .rotate_refresh_token(
            &presented.hash(),
            &next.hash(),
            now() + Duration::days(1),
            now(),
        )
        .await
        .unwrap();
    (rotation, next)
}

pub async fn refresh_tokens_rotate_and_reuse_revokes_the_family(store: &dyn Store) {
    let user = given_user(store, "rotate@example.com").await;
    let family = TokenFamilyId::generate();
    let first = issue(store, user, family, Duration::days(1)).await;
    let other_login = issue(store, user, TokenFamilyId::generate(), Duration::days(1)).await;

    let (rotation, second) = rotate(store, &first).await;
    assert_eq!(
        rotation,
        Rotation::Rotated {
            user_id: user,
            family
        }
    );
    let (rotation, third) = rotate(store, &second).await;
    assert_eq!(
        rotation,
        Rotation::Rotated {
            user_id: user,
            family
        }
    );

    // The first token was already rotated: theft. The whole family dies, including `third`.
    let (rotation, _) = rotate(store, &first).await;
    assert_eq!(rotation, Rotation::Reused { family });
    let (rotation, _) = rotate(store, &third).await;
    assert_eq!(
        rotation,
        Rotation::Rejected,
        "the live token of a revoked family"
    );

    // Another login of the same user is another family and lives on.
    let (rotation, _) = rotate(store, &other_login).await;
    assert!(matches!(rotation, Rotation::Rotated { .. }));

    let (rotation, _) = rotate(store, &RefreshToken::generate().unwrap()).await;
    assert_eq!(rotation, Rotation::Rejected, "unknown token");
}

pub async fn expired_refresh_tokens_are_rejected(store: &dyn Store) {
    let user = given_user(store, "expired@example.com").await;
    let token = issue(
        store,
        user,
        TokenFamilyId::generate(),
        Duration::seconds(-1),
    )
    .await;
    let (rotation, _) = rotate(store, &token).await;
    assert_eq!(rotation, Rotation::Rejected);
}

pub async fn revoking_a_family_kills_every_token_in_it(store: &dyn Store) {
    let user = given_user(store, "logout@example.com").await;
    let first = issue(store, user, TokenFamilyId::generate(), Duration::days(1)).await;
    let (_, second) = rotate(store, &first).await;
    assert!(
        store
            .revoke_token_family(&second.hash(), now())
            .await
            .unwrap()
    );
    let (rotation, _) = rotate(store, &second).await;
    assert_eq!(rotation, Rotation::Rejected);
    let unknown = RefreshToken::generate().unwrap();
    assert!(
        !store
            .revoke_token_family(&unknown.hash(), now())
            .await
            .unwrap()
    );
}
