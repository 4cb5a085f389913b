//! The products placements were last priced from, so that most placements price without a
//! read of the store. Safe to be out of date: a placement checks each line's price, currency
//! and name again as it reserves the stock, in the same transaction, and a line that no
//! longer matches makes it `Placement::CatalogChanged`, priced again from the store. Kept
//! for the placement target: a read per line was a share of each placement
//! (docs/BENCHMARKS.md).
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::domain::{Product, ProductId};

/// Most products remembered. Past it the memo starts afresh: a larger catalog still prices
/// correctly, reading the store more often.
const MOST_REMEMBERED: usize = 10_000;

#[derive(Default)]
pub(crate) struct KnownProducts {
    products: RwLock<HashMap<ProductId, Product>>,
}

impl KnownProducts {
    /// Every one of `ids` as last read, or `None` if any is not known.
    pub(crate) fn all_of(&self, ids: &[ProductId]) -> Option<HashMap<ProductId, Product>> {
        let known = self.products.read().unwrap_or_else(PoisonError::into_inner);
        ids.iter()
            .map(|id| known.get(id).map(|product| (id.clone(), product.clone())))
            .collect()
    }

    pub(crate) fn remember(&self, products: &HashMap<ProductId, Product>) {
        let mut known = self
            .products
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if known.len() + products.len() > MOST_REMEMBERED {
            known.clear();
        }
        known.extend(products.iter().map(|(id, p)| (id.clone(), p.clone())));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Money, ProductName};

    fn product(id: &str) -> Product {
        Product {
            id: ProductId::parse(id).unwrap(),
            name: ProductName::parse(&format!("Product {id}")).unwrap(),
            unit_price: Money::new(100, Currency::USD).unwrap(),
            stock: 1,
        }
    }

    fn by_id(products: &[Product]) -> HashMap<ProductId, Product> {
        products.iter().map(|p| (p.id.clone(), p.clone())).collect()
    }

    #[test]
    fn all_of_is_answered_only_when_every_product_is_known() {
        let known = KnownProducts::default();
        let (a, b) = (product("a"), product("b"));
        known.remember(&by_id(std::slice::from_ref(&a)));
        assert_eq!(
            known.all_of(std::slice::from_ref(&a.id)),
            Some(by_id(std::slice::from_ref(&a)))
        );
        assert_eq!(known.all_of(&[a.id.clone(), b.id.clone()]), None);
        known.remember(&by_id(std::slice::from_ref(&b)));
        assert_eq!(
            known.all_of(&[a.id.clone(), b.id.clone()]),
            Some(by_id(&[a, b]))
        );
    }

    #[test]
    fn a_memo_past_its_bound_starts_afresh() {
        let known = KnownProducts::default();
        let first = product("first");
        known.remember(&by_id(std::slice::from_ref(&first)));
        let many: Vec<Product> = (0..MOST_REMEMBERED)
            .map(|i| product(&format!("p{i}")))
            .collect();
        known.remember(&by_id(&many));
        assert_eq!(known.all_of(&[first.id]), None);
        assert!(known.all_of(&[many[0].id.clone()]).is_some());
        let size = known.products.read().unwrap().len();
        assert_eq!(size, MOST_REMEMBERED);
    }
}
