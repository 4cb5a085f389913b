use orderflow_core::ports::{Store, UserRecord};
use orderflow_core::{Email, PasswordHash, User, UserId, UserName};

use orderflow_testkit::fixtures::stored_password_hash;

use super::{given_user, now};

pub async fn email_is_unique_case_insensitively(store: &dyn Store) {
    given_user(store, "Ada@Example.com").await;
    let again = UserRecord {
        user: User {
            id: UserId::generate(),
            name: UserName::parse("Other").unwrap(),
            email: Email::parse("ada@EXAMPLE.com").unwrap(),
            created_at: now(),
        },
        password_hash: PasswordHash::from_phc("x".into()),
    };
    assert!(
        !store.insert_user(&again).await.unwrap(),
        "same email, other case"
    );
    assert!(store.user_by_id(again.user.id).await.unwrap().is_none());
}

pub async fn users_are_found_by_id_and_email(store: &dyn Store) {
    let id = given_user(store, "Grace.Hopper@Example.com").await;
    let by_email = store
        .user_by_email("grace.hopper@example.com")
        .await
        .unwrap()
        .expect("found by normalized email");
    assert_eq!(by_email.user.id, id);
    assert_eq!(by_email.user.email.as_str(), "Grace.Hopper@Example.com");
    assert!(by_email.password_hash.as_phc().starts_with("$argon2id$"));
    let by_id = store.user_by_id(id).await.unwrap().expect("found by id");
    assert_eq!(by_id, by_email.user);
    assert!(
        store
            .user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .user_by_id(UserId::generate())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn a_password_hash_is_replaced_only_while_it_is_the_current_one(store: &dyn Store) {
    let id = given_user(store, "rehash@example.com").await;
    let original = stored_password_hash(store, "rehash@example.com").await;
    let newer =
        PasswordHash::from_phc("$argon2id$v=19$m=7168,t=5,p=1$bmV3c2FsdA$bmV3aGFzaA".into());
    let stale = PasswordHash::from_phc("$argon2id$v=19$m=7168,t=5,p=1$c3RhbGU$c3RhbGU".into());

    assert!(
        store
            .replace_password_hash(id, &original, &newer)
            .await
            .unwrap()
    );
    assert_eq!(
        stored_password_hash(store, "rehash@example.com").await,
        newer
    );

    assert!(
        !store
            .replace_password_hash(id, &original, &stale)
            .await
            .unwrap(),
        "the hash it was read as is no longer the stored one"
    );
    assert_eq!(
        stored_password_hash(store, "rehash@example.com").await,
        newer
    );

    assert!(
        !store
            .replace_password_hash(UserId::generate(), &newer, &stale)
            .await
            .unwrap(),
        "unknown user"
    );
}
