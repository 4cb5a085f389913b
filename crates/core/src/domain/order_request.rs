use super::{FieldError, FieldErrors, ProductId, Quantity};

/// A line as the client asked for it, before pricing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
    /// Index of the line's first appearance in the request, for error paths.
    pub index: usize,
}

/// A valid order request: 1 to 100 lines, each product once (repeats merged), each quantity
/// 1 to 10,000, and optionally the total the client expects to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub lines: Vec<RequestedLine>,
    pub expected_total: Option<i64>,
}

impl OrderRequest {
    pub const MAX_LINES: usize = 100;

    pub fn parse(
        raw_lines: &[(String, i64)],
        expected_total: Option<i64>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = FieldErrors::new();
        if raw_lines.is_empty() {
            errors.push("items", "must contain at least one line");
        }
        if raw_lines.len() > Self::MAX_LINES {
            errors.push(
                "items",
                format!("must contain at most {} lines", Self::MAX_LINES),
            );
        }
        if expected_total.is_some_and(|total| total < 0) {
            errors.push("totalAmount", "must not be negative");
        }
        let mut lines: Vec<RequestedLine> = Vec::with_capacity(raw_lines.len());
        for (index, (raw_id, raw_quantity)) in raw_lines.iter().enumerate() {
            let id = errors.take(
                format!("items[{index}].productId"),
                ProductId::parse(raw_id),
            );
            let quantity = errors.take(
                format!("items[{index}].quantity"),
                Quantity::parse(*raw_quantity),
            );
            let (Some(product_id), Some(quantity)) = (id, quantity) else {
                continue;
            };
            match lines.iter_mut().find(|l| l.product_id == product_id) {
                Some(existing) => {
                    let merged = i64::from(existing.quantity.get()) + i64::from(quantity.get());
                    match Quantity::parse(merged) {
                        Ok(q) => existing.quantity = q,
                        Err(message) => errors.push(
                            format!("items[{index}].quantity"),
                            format!("{message} for {product_id} across its lines"),
                        ),
                    }
                }
                None => lines.push(RequestedLine {
                    product_id,
                    quantity,
                    index,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(errors.into_vec());
        }
        Ok(Self {
            lines,
            expected_total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(items: &[(&str, i64)]) -> Vec<(String, i64)> {
        items.iter().map(|(id, q)| ((*id).to_owned(), *q)).collect()
    }

    #[test]
    fn repeated_products_are_merged() {
        let request =
            OrderRequest::parse(&raw(&[("a", 2), ("b", 1), ("a", 3)]), None).expect("valid");
        assert_eq!(request.lines.len(), 2);
        assert_eq!(request.lines[0].quantity.get(), 5);
    }

    #[test]
    fn every_bad_field_is_named() {
        let errors = OrderRequest::parse(&raw(&[("a", 0), ("", 1), ("b", 10_001)]), Some(-5))
            .expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "totalAmount",
                "items[0].quantity",
                "items[1].productId",
                "items[2].quantity"
            ]
        );
    }

    #[test]
    fn line_count_is_bounded() {
        assert!(OrderRequest::parse(&[], None).is_err());
        let many: Vec<_> = (0..101).map(|i| (format!("p{i}"), 1)).collect();
        let errors = OrderRequest::parse(&many, None).expect_err("too many");
        assert_eq!(errors[0].field, "items");
        assert!(OrderRequest::parse(&many[..100], None).is_ok());
    }

    #[test]
    fn merged_quantity_is_bounded_too() {
        let errors = OrderRequest::parse(&raw(&[("a", 6000), ("a", 6000)]), None)
            .expect_err("too many units");
        assert_eq!(errors[0].field, "items[1].quantity");
    }
}
