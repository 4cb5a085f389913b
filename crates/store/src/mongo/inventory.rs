use async_trait::async_trait;
use mongodb::bson::doc;
use mongodb::options::ReplaceOptions;
use orderflow_core::ports::{InventoryStore, StoreError, UpsertSummary};
use orderflow_core::{Product, ProductId};

use super::documents::ProductDoc;
use super::{MongoStore, find_all, unavailable};

#[async_trait]
impl InventoryStore for MongoStore {
    async fn upsert_products(&self, products: &[Product]) -> Result<UpsertSummary, StoreError> {
        let mut summary = UpsertSummary::default();
        for product in products {
            let document = ProductDoc::from_product(product);
            let existing = self
                .products
                .find_one(doc! { "_id": &document.id })
                .await
                .map_err(unavailable)?;
            match existing {
                Some(existing) if existing == document => {
                    summary.unchanged += 1;
                    continue;
                }
                Some(_) => summary.updated += 1,
                None => summary.created += 1,
            }
            self.products
                .replace_one(doc! { "_id": &document.id }, &document)
                .with_options(ReplaceOptions::builder().upsert(true).build())
                .await
                .map_err(unavailable)?;
        }
        Ok(summary)
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        self.products
            .find_one(doc! { "_id": id.as_str() })
            .await
            .map_err(unavailable)?
            .map(|d| d.product())
            .transpose()
    }

    async fn products_by_ids(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
        let limit = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        let documents: Vec<ProductDoc> = find_all(
            &self.products,
            doc! { "_id": { "$in": ids } },
            doc! { "_id": 1 },
            limit,
        )
        .await?;
        documents.iter().map(ProductDoc::product).collect()
    }

    async fn list_products(
        &self,
        after: Option<&ProductId>,
        limit: u32,
    ) -> Result<Vec<Product>, StoreError> {
        let after = after.map_or("", ProductId::as_str);
        let documents: Vec<ProductDoc> = find_all(
            &self.products,
            doc! { "_id": { "$gt": after } },
            doc! { "_id": 1 },
            limit,
        )
        .await?;
        documents.iter().map(ProductDoc::product).collect()
    }
}
