//! The products placements were last priced from, so that most placements price without a
//! read of the store. Safe to be out of date: a placement checks each line's price, currency
//! and name again as it reserves the stock, in the same transaction, and a line that no
//! longer matches makes it `Placement::CatalogChanged`, priced again from the store. Kept
//! for the placement target: a read per line was a share of each placement
//! (docs/BENCHMARKS.md).
use std::collections::HashMap;

use quick_cache::sync::Cache;

use crate::domain::{Product, ProductId};

/// Most products remembered: past it the coldest make room, and a larger catalog still
/// prices correctly, reading the store more often.
const MOST_REMEMBERED: usize = 10_000;

pub(crate) struct KnownProducts {
    products: Cache<ProductId, Product>,
}

impl Default for KnownProducts {
    fn default() -> Self {
        Self {
            products: Cache::new(MOST_REMEMBERED),
        }
    }
}

impl KnownProducts {
    /// Every one of `ids` as last read, or `None` if any is not known.
    pub(crate) fn all_of(&self, ids: &[ProductId]) -> Option<HashMap<ProductId, Product>> {
        ids.iter()
            .map(|id| self.products.get(id).map(|product| (id.clone(), product)))
            .collect()
    }

    pub(crate) fn remember(&self, products: &HashMap<ProductId, Product>) {
        for (id, product) in products {
            self.products.insert(id.clone(), product.clone());
        }
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
    fn a_memo_past_its_bound_stays_within_it_and_keeps_what_is_used() {
        let known = KnownProducts::default();
        let hot = product("hot");
        known.remember(&by_id(std::slice::from_ref(&hot)));
        for i in 0..2 * MOST_REMEMBERED {
            known.remember(&by_id(&[product(&format!("p{i}"))]));
            if i % 100 == 0 {
                assert!(known.all_of(std::slice::from_ref(&hot.id)).is_some());
            }
        }
        assert!(known.products.len() <= MOST_REMEMBERED);
        assert!(known.all_of(&[hot.id]).is_some(), "a product in use stays");
    }
}
