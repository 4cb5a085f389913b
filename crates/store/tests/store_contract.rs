//! The Store contract, run against every adapter. An adapter passes when every test here
//! passes unchanged against it.
#![allow(clippy::unwrap_used)]

mod contract;

mod sqlite {
    use std::sync::Arc;

    use orderflow_store::SqliteStore;

    use crate::contract::Fixture;

    async fn fresh() -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(dir.path()).expect("open store");
        Fixture::new(Arc::new(store), dir)
    }

    crate::store_contract_tests!(fresh);

    #[tokio::test]
    async fn reopening_keeps_data_and_does_not_migrate_twice() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let user = {
            let store = SqliteStore::open(dir.path()).expect("open store");
            crate::contract::given_user(&store, "keep@example.com").await
        };
        let store = SqliteStore::open(dir.path()).expect("reopen store");
        use orderflow_core::ports::UserStore;
        assert_eq!(
            store.user_by_id(user).await.unwrap().map(|u| u.id),
            Some(user)
        );
    }
}
