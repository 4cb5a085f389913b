use orderflow_core::{Cursor, FieldErrors, PageLimit};

use crate::problem::Problem;

/// Parses `limit` and `cursor` query values, naming each bad one.
pub fn page_params(
    limit: Option<&str>,
    cursor: Option<&str>,
    errors: &mut FieldErrors,
) -> (Option<PageLimit>, Option<Cursor>) {
    let limit = errors.take(
        "limit",
        limit
            .map(|raw| {
                raw.parse::<i64>()
                    .map_err(|_| "must be a whole number".to_owned())
            })
            .transpose()
            .and_then(PageLimit::parse),
    );
    let cursor = cursor
        .filter(|c| !c.is_empty())
        .and_then(|raw| errors.take("cursor", Cursor::decode(raw)));
    (limit, cursor)
}

pub fn into_result<T>(errors: FieldErrors, value: Option<T>) -> Result<T, Problem> {
    match value {
        Some(value) if errors.is_empty() => Ok(value),
        _ => Err(Problem::invalid(errors.into_vec())),
    }
}
