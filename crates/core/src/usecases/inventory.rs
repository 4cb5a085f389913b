use std::sync::Arc;

use crate::domain::{Cursor, PageLimit, Product, ProductId};
use crate::ports::{Store, StoreError};

use super::Page;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("no such product")]
    NotFound,
    #[error("invalid cursor")]
    BadCursor,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct InventoryService {
    store: Arc<dyn Store>,
}

impl InventoryService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    pub async fn list(
        &self,
        cursor: Option<&Cursor>,
        limit: PageLimit,
    ) -> Result<Page<Product>, InventoryError> {
        let after = cursor
            .map(|c| ProductId::parse(c.key()))
            .transpose()
            .map_err(|_| InventoryError::BadCursor)?;
        let items = self
            .store
            .list_products(after.as_ref(), limit.get() + 1)
            .await?;
        Ok(Page::from_overfetch(items, limit.get(), |p| {
            p.id.as_str().to_owned()
        }))
    }

    pub async fn get(&self, id: &ProductId) -> Result<Product, InventoryError> {
        self.store
            .product(id)
            .await?
            .ok_or(InventoryError::NotFound)
    }
}

/// The stored products among `ids`, by id (unknown ids are simply absent).
pub(crate) async fn products_by_id(
    store: &dyn Store,
    ids: &[ProductId],
) -> Result<std::collections::HashMap<ProductId, Product>, StoreError> {
    Ok(store
        .products_by_ids(ids)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect())
}
