//! Conversions between rows and domain values. A stored value that no longer parses is
//! reported as corrupt rather than guessed at.
use orderflow_core::{Currency, Money, Order, Product, ProductId, ProductName};
use rusqlite::types::Type;
use time::OffsetDateTime;

pub(crate) fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_millis(column: usize, ms: i64) -> Result<OffsetDateTime, rusqlite::Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| corrupt(column, e.to_string()))
}

pub(crate) fn corrupt(column: usize, message: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, Type::Text, message.into().into())
}

/// Parses column `column` of `row` with a domain parser.
pub(crate) fn parsed<T>(
    row: &rusqlite::Row<'_>,
    column: usize,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, rusqlite::Error> {
    let raw: String = row.get(column)?;
    parse(&raw).map_err(|e| corrupt(column, format!("{raw:?} {e}")))
}

pub(crate) const PRODUCT_COLUMNS: &str = "id, name, unit_price, currency, stock";

pub(crate) fn product(row: &rusqlite::Row<'_>) -> Result<Product, rusqlite::Error> {
    let currency = parsed(row, 3, Currency::parse)?;
    let unit_price = Money::new(row.get(2)?, currency).map_err(|e| corrupt(2, e))?;
    Ok(Product {
        id: parsed(row, 0, ProductId::parse)?,
        name: parsed(row, 1, ProductName::parse)?,
        unit_price,
        stock: row.get(4)?,
    })
}

pub(crate) fn order_json(order: &Order) -> Result<String, rusqlite::Error> {
    serde_json::to_string(order).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))
}

pub(crate) fn order_from_json(column: usize, body: &str) -> Result<Order, rusqlite::Error> {
    serde_json::from_str(body).map_err(|e| corrupt(column, e.to_string()))
}

/// A `COUNT(*)` column.
pub(crate) fn count(row: &rusqlite::Row<'_>, column: usize) -> Result<u64, rusqlite::Error> {
    let n: i64 = row.get(column)?;
    u64::try_from(n).map_err(|_| corrupt(column, format!("negative count {n}")))
}
