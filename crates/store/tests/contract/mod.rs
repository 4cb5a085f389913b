//! Store contract tests: plain async functions over `&dyn Store`, instantiated per adapter by
//! [`store_contract_tests!`].
mod emails;
mod housekeeping;
mod idempotency;
mod inventory;
mod orders;
mod outbox;
mod tokens;
mod users;

use std::any::Any;
use std::sync::Arc;

use orderflow_core::ports::Store;
use orderflow_core::{Product, ProductId};
pub use orderflow_testkit::fixtures::{given_user, order_of, product};

/// A fresh, empty store and whatever keeps it alive (a temporary directory, a database).
pub struct Fixture {
    pub store: Arc<dyn Store>,
    _keep_alive: Box<dyn Any + Send>,
}

impl Fixture {
    pub fn new(store: Arc<dyn Store>, keep_alive: impl Any + Send) -> Self {
        Self {
            store,
            _keep_alive: Box::new(keep_alive),
        }
    }
}

pub use emails::*;
pub use housekeeping::*;
pub use idempotency::*;
pub use inventory::*;
pub use orders::*;
pub use outbox::*;
pub use tokens::*;
pub use users::*;

/// Expands to one `#[tokio::test]` per contract test, each on a fresh store from `$fresh`.
#[macro_export]
macro_rules! store_contract_tests {
    ($fresh:path) => {
        $crate::store_contract_tests!(@each $fresh;
            email_is_unique_case_insensitively,
            users_are_found_by_id_and_email,
            a_password_hash_is_replaced_only_while_it_is_the_current_one,
            refresh_tokens_rotate_and_reuse_revokes_the_family,
            expired_refresh_tokens_are_rejected,
            revoking_a_family_kills_every_token_in_it,
            upserts_report_created_updated_unchanged,
            products_list_in_id_order_from_a_cursor,
            placement_reserves_stock_and_writes_order_and_outbox,
            reservation_is_all_lines_or_none,
            changed_prices_write_nothing,
            renamed_products_write_nothing,
            fifty_concurrent_placements_never_oversell,
            status_changes_are_compare_and_set,
            a_step_given_an_out_of_date_copy_is_decided_by_the_stored_order,
            cancelling_and_failing_release_stock,
            orders_list_newest_first_by_cursor,
            idempotency_keys_replay_the_first_response,
            expired_idempotency_keys_can_be_claimed_again,
            outbox_claims_are_leased_to_one_relay,
            published_outbox_entries_are_never_claimed_again,
            the_step_that_makes_an_order_final_records_its_email,
            recorded_emails_are_leased_retried_and_settled,
            concurrent_senders_are_handed_each_email_once,
            purging_removes_only_what_has_expired,
        );
    };
    (@each $fresh:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $fresh().await;
                $crate::contract::$name(fixture.store.as_ref()).await;
            }
        )*
    };
}

pub fn now() -> time::OffsetDateTime {
    orderflow_core::now()
}

pub async fn given_products(store: &dyn Store, products: &[Product]) {
    store.upsert_products(products).await.unwrap();
}

pub async fn stock_of(store: &dyn Store, id: &str) -> u32 {
    store
        .product(&ProductId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap()
        .stock
}
