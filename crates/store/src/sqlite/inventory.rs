use async_trait::async_trait;
use orderflow_core::ports::{InventoryStore, StoreError, UpsertSummary};
use orderflow_core::{Product, ProductId};
use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::connections::Outcome;
use super::rows::{PRODUCT_COLUMNS, product};

#[async_trait]
impl InventoryStore for SqliteStore {
    async fn upsert_products(&self, products: &[Product]) -> Result<UpsertSummary, StoreError> {
        let products = products.to_vec();
        self.db
            .write(move |tx| {
                let mut summary = UpsertSummary::default();
                for p in &products {
                    let existing = product_by_id(tx, p.id.as_str())?;
                    match existing {
                        Some(existing) if &existing == p => {
                            summary.unchanged += 1;
                            continue;
                        }
                        Some(_) => summary.updated += 1,
                        None => summary.created += 1,
                    }
                    tx.prepare_cached(
                        "INSERT INTO products (id, name, unit_price, currency, stock)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                           unit_price = excluded.unit_price, currency = excluded.currency,
                           stock = excluded.stock",
                    )?
                    .execute(params![
                        p.id.as_str(),
                        p.name.as_str(),
                        p.unit_price.minor(),
                        p.unit_price.currency().as_str(),
                        p.stock
                    ])?;
                }
                Ok(Outcome::Commit(summary))
            })
            .await
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let id = id.as_str().to_owned();
        self.db.lookup(move |conn| product_by_id(conn, &id)).await
    }

    async fn products_by_ids(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let mut ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .lookup(move |conn| {
                // One prepared lookup by key per id: a statement built for the number of ids
                // was parsed again on every placement. (Pricing needs no single snapshot of
                // several products: the placement checks each price again as it reserves.)
                ids.iter()
                    .filter_map(|id| product_by_id(conn, id).transpose())
                    .collect()
            })
            .await
    }

    async fn list_products(
        &self,
        after: Option<&ProductId>,
        limit: u32,
    ) -> Result<Vec<Product>, StoreError> {
        let after = after.map(|id| id.as_str().to_owned()).unwrap_or_default();
        self.db
            .lookup(move |conn| {
                let mut statement = conn.prepare_cached(&format!(
                    "SELECT {PRODUCT_COLUMNS} FROM products WHERE id > ?1 ORDER BY id LIMIT ?2"
                ))?;
                let rows = statement.query_map(params![after, limit], product)?;
                rows.collect()
            })
            .await
    }
}

/// The product with this id, by its key, through the connection's prepared statement.
fn product_by_id(
    conn: &rusqlite::Connection,
    id: &str,
) -> Result<Option<Product>, rusqlite::Error> {
    conn.prepare_cached(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?1"
    ))?
    .query_row([id], product)
    .optional()
}
