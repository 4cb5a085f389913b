//! A small catalog so a fresh `orderflow serve` has something to order.
use anyhow::Context;
use orderflow_core::ports::Store;
use orderflow_core::{Currency, Money, Product, ProductId, ProductName};

const DEMO: &[(&str, &str, i64, u32)] = &[
    ("sku-mug", "Ceramic mug", 1_999, 500),
    ("sku-tee", "Cotton t-shirt", 2_499, 300),
    ("sku-cap", "Baseball cap", 1_799, 200),
    ("sku-bottle", "Steel water bottle", 2_999, 250),
    ("sku-notebook", "Dotted notebook", 1_299, 1_000),
    ("sku-pen", "Gel pen, pack of 5", 799, 2_000),
    ("sku-hoodie", "Zip hoodie", 5_499, 120),
    ("sku-tote", "Canvas tote bag", 1_599, 400),
];

pub fn products() -> anyhow::Result<Vec<Product>> {
    DEMO.iter()
        .map(|(id, name, price, stock)| {
            Ok(Product {
                id: ProductId::parse(id).map_err(anyhow::Error::msg)?,
                name: ProductName::parse(name).map_err(anyhow::Error::msg)?,
                unit_price: Money::new(*price, Currency::USD).map_err(anyhow::Error::msg)?,
                stock: *stock,
            })
        })
        .collect()
}

/// Seeds the demo catalog into an empty inventory; a store with any product is left alone.
pub async fn seed_if_empty(store: &dyn Store) -> anyhow::Result<()> {
    if !store
        .list_products(None, 1)
        .await
        .context("reading the inventory")?
        .is_empty()
    {
        return Ok(());
    }
    let summary = store
        .upsert_products(&products()?)
        .await
        .context("seeding the demo catalog")?;
    tracing::info!(
        created = summary.created,
        "seeded the demo catalog into an empty inventory"
    );
    Ok(())
}
