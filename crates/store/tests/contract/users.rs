use orderflow_core::ports::{Store, UserRecord};
use orderflow_core::{Email, PasswordHash, User, UserId, UserName};

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
