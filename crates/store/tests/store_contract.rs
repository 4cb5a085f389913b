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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_purge_larger_than_its_writes_removes_every_expired_row() {
        use orderflow_core::ports::{Housekeeping, NewRefreshToken, RefreshTokenStore};
        use orderflow_core::{RefreshToken, TokenFamilyId};

        use crate::contract::now;

        let dir = tempfile::tempdir().expect("temporary directory");
        let store = SqliteStore::open(dir.path()).expect("open store");
        let user = crate::contract::given_user(&store, "purge-many@example.com").await;
        let token = |lifetime: i64| NewRefreshToken {
            hash: RefreshToken::generate().unwrap().hash(),
            family: TokenFamilyId::generate(),
            user_id: user,
            issued_at: now(),
            expires_at: now() + time::Duration::seconds(lifetime),
        };
        // More than two of the store's purge writes (1,000 rows each), and one that lives.
        let expired = 2_001;
        let tokens: Vec<_> = (0..expired)
            .map(|_| token(-10))
            .chain([token(3_600)])
            .collect();
        futures::future::join_all(tokens.iter().map(|t| store.insert_refresh_token(t)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();

        let purged = store.purge(now(), now(), now()).await.unwrap();
        assert_eq!(purged.refresh_tokens, expired);
        // The live one stayed: it goes once it has expired too.
        let later = now() + time::Duration::hours(2);
        let purged = store.purge(later, now(), now()).await.unwrap();
        assert_eq!(purged.refresh_tokens, 1);
    }

    #[test]
    fn two_processes_opening_a_new_data_dir_at_once_both_open_it() {
        // `orderflow api` and `orderflow worker` started together on an empty data dir:
        // the one that loses the race to set the file up waits for it instead of failing.
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("temporary directory");
            let together = std::sync::Barrier::new(2);
            std::thread::scope(|scope| {
                let opening: Vec<_> = (0..2)
                    .map(|_| {
                        scope.spawn(|| {
                            together.wait();
                            SqliteStore::open(dir.path()).map(drop)
                        })
                    })
                    .collect();
                for opened in opening {
                    let opened = opened.join().expect("the opening thread panicked");
                    assert!(opened.is_ok(), "{opened:?}");
                }
            });
        }
    }
}

mod mongo {
    use std::sync::Arc;

    use orderflow_store::{MongoStore, MongoStoreError};
    use orderflow_testkit::services::fresh_mongo_uri;

    use crate::contract::Fixture;

    async fn fresh() -> Fixture {
        let store = MongoStore::connect(&fresh_mongo_uri("contract"))
            .await
            .expect("connect to the MongoDB test server");
        Fixture::new(Arc::new(store), ())
    }

    crate::store_contract_tests!(fresh);

    #[tokio::test]
    async fn connecting_twice_keeps_the_indexes_and_the_data() {
        let uri = fresh_mongo_uri("reconnect");
        let first = MongoStore::connect(&uri).await.unwrap();
        let user = crate::contract::given_user(&first, "again@example.com").await;
        let second = MongoStore::connect(&uri).await.unwrap();
        use orderflow_core::ports::UserStore;
        assert_eq!(
            second.user_by_id(user).await.unwrap().map(|u| u.id),
            Some(user)
        );
        assert!(second.database_name().starts_with("reconnect_"));
    }

    #[tokio::test]
    async fn a_malformed_uri_is_named_as_such() {
        let error = MongoStore::connect("mongo://nope").await.err().unwrap();
        assert!(matches!(error, MongoStoreError::MalformedUri(_)), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("MONGO_URI is not a valid MongoDB connection string")
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named_with_its_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let uri = format!("mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500");
        let error = MongoStore::connect(&uri).await.err().unwrap();
        assert!(
            matches!(error, MongoStoreError::Unreachable { .. }),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(
            message.lines().count() == 1,
            "one line, no driver internals: {message}"
        );
    }
}
