use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::{Currency, Money, Product, ProductId, ProductName};
use crate::ports::{Store, StoreError, UpsertSummary};

use super::inventory::products_by_id;

/// One row of a catalog file as read, before validation; `line` is where it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogRow {
    pub line: usize,
    pub product_id: Option<String>,
    pub name: Option<String>,
    pub unit_price: Option<i64>,
    pub currency: Option<String>,
    pub stock: Option<i64>,
}

/// What seeding does with each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedMode {
    /// Create or replace each product: name, price, currency and stock.
    Upsert,
    /// Set the stock of products that exist; nothing else changes.
    SetStock,
}

/// A row that cannot be seeded, by its line in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{} rows are invalid; nothing was written", .0.len())]
    Invalid(Vec<RowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Loads catalogs into the inventory: every row is validated before anything is written.
pub struct SeedService {
    store: Arc<dyn Store>,
}

impl SeedService {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// The products the rows come to, or every row's problem.
    pub async fn validate(
        &self,
        rows: &[CatalogRow],
        mode: SeedMode,
    ) -> Result<Vec<Product>, SeedError> {
        let mut errors = Vec::new();
        let mut seen: HashMap<ProductId, usize> = HashMap::new();
        let mut valid: Vec<(usize, ProductId, &CatalogRow)> = Vec::new();
        for row in rows {
            let mut problems = Vec::new();
            let id = match row.product_id.as_deref().map(ProductId::parse) {
                None => {
                    problems.push("productId is missing".to_owned());
                    None
                }
                Some(Err(e)) => {
                    problems.push(format!("productId {e}"));
                    None
                }
                Some(Ok(id)) => Some(id),
            };
            match row.stock {
                None => problems.push("stock is missing".to_owned()),
                Some(stock) if u32::try_from(stock).is_err() => {
                    problems.push(format!("stock must be 0 to {}", u32::MAX));
                }
                Some(_) => {}
            }
            if let Some(id) = &id {
                if let Some(first) = seen.get(id) {
                    problems.push(format!("productId {id} is already on line {first}"));
                } else {
                    seen.insert(id.clone(), row.line);
                }
            }
            if mode == SeedMode::Upsert {
                problems.extend(priced(row).err());
            }
            match (id, problems.is_empty()) {
                (Some(id), true) => valid.push((row.line, id, row)),
                _ => errors.push(RowError {
                    line: row.line,
                    message: problems.join("; "),
                }),
            }
        }
        let existing: HashMap<ProductId, Product> = if mode == SeedMode::SetStock {
            let ids: Vec<ProductId> = valid.iter().map(|(_, id, _)| id.clone()).collect();
            products_by_id(self.store.as_ref(), &ids).await?
        } else {
            HashMap::new()
        };
        let mut products = Vec::with_capacity(valid.len());
        for (line, id, row) in valid {
            let stock = u32::try_from(row.stock.unwrap_or_default()).unwrap_or_default();
            let product = match mode {
                SeedMode::Upsert => priced(row).map(|(name, unit_price)| Product {
                    id,
                    name,
                    unit_price,
                    stock,
                }),
                SeedMode::SetStock => existing
                    .get(&id)
                    .map(|p| Product { stock, ..p.clone() })
                    .ok_or_else(|| {
                        format!("product {id} does not exist; seed it with --mode upsert first")
                    }),
            };
            match product {
                Ok(product) => products.push(product),
                Err(message) => errors.push(RowError { line, message }),
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return Err(SeedError::Invalid(errors));
        }
        Ok(products)
    }

    /// What seeding `products` would change, without writing.
    pub async fn preview(&self, products: &[Product]) -> Result<UpsertSummary, StoreError> {
        let ids: Vec<ProductId> = products.iter().map(|p| p.id.clone()).collect();
        let existing = products_by_id(self.store.as_ref(), &ids).await?;
        let mut summary = UpsertSummary::default();
        for product in products {
            match existing.get(&product.id) {
                None => summary.created += 1,
                Some(current) if current == product => summary.unchanged += 1,
                Some(_) => summary.updated += 1,
            }
        }
        Ok(summary)
    }

    /// Writes `products` in batches of `batch`, reporting each batch's size as it lands.
    pub async fn apply(
        &self,
        products: &[Product],
        batch: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<UpsertSummary, StoreError> {
        let mut total = UpsertSummary::default();
        for chunk in products.chunks(batch.max(1)) {
            let summary = self.store.upsert_products(chunk).await?;
            total.created += summary.created;
            total.updated += summary.updated;
            total.unchanged += summary.unchanged;
            progress(chunk.len());
        }
        Ok(total)
    }
}

/// The name and price of an upsert row, or what is wrong with them.
fn priced(row: &CatalogRow) -> Result<(ProductName, Money), String> {
    let mut problems = Vec::new();
    let name = match row.name.as_deref().map(ProductName::parse) {
        None => {
            problems.push("name is missing".to_owned());
            None
        }
        Some(Err(e)) => {
            problems.push(format!("name {e}"));
            None
        }
        Some(Ok(name)) => Some(name),
    };
    let currency = match Currency::parse(row.currency.as_deref().unwrap_or("USD")) {
        Ok(currency) => Some(currency),
        Err(e) => {
            problems.push(format!("currency {e}"));
            None
        }
    };
    let price = match (row.unit_price, currency) {
        (None, _) => {
            problems.push("unitPrice is missing".to_owned());
            None
        }
        (Some(minor), Some(currency)) => match Money::new(minor, currency) {
            Ok(money) => Some(money),
            Err(e) => {
                problems.push(format!("unitPrice {e}"));
                None
            }
        },
        (Some(_), None) => None,
    };
    match (name, price) {
        (Some(name), Some(price)) if problems.is_empty() => Ok((name, price)),
        _ => Err(problems.join("; ")),
    }
}
