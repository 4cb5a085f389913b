//! Catalog files (`.csv`, `.json`, `.yaml`/`.yml`) read into rows that remember their line,
//! so every bad row can be reported where it is. A crate of its own, so that `seed` and the
//! controller (which counts a catalog's rows) read catalogs alike without the adapters'
//! SDKs.
#![forbid(unsafe_code)]
use std::collections::BTreeMap;
use std::path::Path;

use orderflow_core::usecases::CatalogRow;
use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Reads `path` by its extension; the error names the file and, where it can, the line.
pub fn read(path: &Path) -> Result<Vec<CatalogRow>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&path.to_string_lossy(), &text)
}

/// Parses `text` as the catalog format `file_name`'s extension names.
pub fn parse(file_name: &str, text: &str) -> Result<Vec<CatalogRow>, String> {
    let extension = Path::new(file_name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let fields = match extension.as_deref() {
        Some("csv") => csv_rows(text),
        Some("json") => json_rows(text),
        Some("yaml" | "yml") => yaml_rows(text),
        _ => Err("the catalog must be a .csv, .json, .yaml or .yml file".to_owned()),
    }
    .map_err(|e| format!("{file_name}: {e}"))?;
    Ok(fields
        .into_iter()
        .map(|(line, map)| row(line, &map))
        .collect())
}

type Fields = BTreeMap<String, Value>;

fn row(line: usize, fields: &Fields) -> CatalogRow {
    let text = |key: &str| match fields.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    // Numbers may come quoted (CSV and YAML scalars are text); a non-number is kept as
    // out of range so validation reports it.
    let number = |key: &str| text(key).map(|raw| raw.parse::<i64>().unwrap_or(i64::MIN));
    CatalogRow {
        line,
        product_id: text("productId"),
        name: text("name"),
        unit_price: number("unitPrice"),
        currency: text("currency"),
        stock: number("stock"),
    }
}

fn csv_rows(text: &str) -> Result<Vec<(usize, Fields)>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| e.to_string())?;
        // Offsets, not the reader's line count, so blank lines are counted too.
        // (Blank lines before a record are included in its position: skip them.)
        let line = record.position().map_or(0, |p| {
            let at = usize::try_from(p.byte())
                .unwrap_or(usize::MAX)
                .min(text.len());
            let start = text[at..]
                .find(|c| c != '\n' && c != '\r')
                .map_or(at, |skip| at + skip);
            line_of(text, start)
        });
        let fields = headers
            .iter()
            .zip(record.iter())
            .map(|(h, v)| (h.to_owned(), Value::String(v.to_owned())))
            .collect();
        rows.push((line, fields));
    }
    Ok(rows)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn json_rows(text: &str) -> Result<Vec<(usize, Fields)>, String> {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize)]
    struct Wrapped<'a> {
        #[serde(borrow)]
        items: Vec<&'a RawValue>,
    }
    let items: Vec<&RawValue> = match serde_json::from_str::<Vec<&RawValue>>(text) {
        Ok(items) => items,
        Err(list_error) => serde_json::from_str::<Wrapped<'_>>(text)
            .map(|wrapped| wrapped.items)
            .map_err(|_| {
                format!(
                    "line {}: not a JSON list of products (or {{\"items\": [...]}}): {list_error}",
                    list_error.line()
                )
            })?,
    };
    items
        .into_iter()
        .map(|raw| {
            // The raw value borrows from `text`: its address gives its offset there.
            let offset = raw.get().as_ptr() as usize - text.as_ptr() as usize;
            let line = line_of(text, offset);
            serde_json::from_str::<Fields>(raw.get())
                .map(|fields| (line, fields))
                .map_err(|_| format!("line {line}: each product must be a JSON object"))
        })
        .collect()
}

/// YAML events with the line each starts on.
#[derive(Default)]
struct Events(Vec<(Event, usize)>);

impl MarkedEventReceiver for Events {
    fn on_event(&mut self, event: Event, mark: Marker) {
        self.0.push((event, mark.line()));
    }
}

/// A list of flat mappings, at the top level or under `items:`.
fn yaml_rows(text: &str) -> Result<Vec<(usize, Fields)>, String> {
    let mut events = Events::default();
    Parser::new_from_str(text)
        .load(&mut events, false)
        .map_err(|e| format!("line {}: not valid YAML: {e}", e.marker().line()))?;
    let mut iter = events
        .0
        .into_iter()
        .filter(|(e, _)| {
            !matches!(
                e,
                Event::StreamStart | Event::DocumentStart | Event::Nothing
            )
        })
        .peekable();
    let shape = "a list of products, or `items:` with a list of products";
    match iter.next() {
        Some((Event::SequenceStart(..), _)) => {}
        Some((Event::MappingStart(..), _)) => match (iter.next(), iter.next()) {
            (Some((Event::Scalar(key, ..), _)), Some((Event::SequenceStart(..), _)))
                if key == "items" => {}
            _ => return Err(format!("the file must hold {shape}")),
        },
        _ => return Err(format!("the file must hold {shape}")),
    }
    let mut rows = Vec::new();
    loop {
        match iter.next() {
            Some((Event::SequenceEnd, _)) | None => return Ok(rows),
            Some((Event::MappingStart(..), line)) => {
                let mut fields = Fields::new();
                loop {
                    match (iter.next(), iter.peek()) {
                        (Some((Event::MappingEnd, _)), _) => break,
                        (Some((Event::Scalar(key, ..), _)), Some((Event::Scalar(..), _))) => {
                            if let Some((Event::Scalar(value, ..), _)) = iter.next() {
                                fields.insert(key, Value::String(value));
                            }
                        }
                        _ => {
                            return Err(format!(
                                "line {line}: each product must be a flat mapping of fields"
                            ));
                        }
                    }
                }
                rows.push((line, fields));
            }
            Some((_, line)) => {
                return Err(format!(
                    "line {line}: each product must be a mapping of fields"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(rows: &[(usize, Fields)]) -> Vec<(usize, String)> {
        rows.iter()
            .map(|(line, f)| {
                (
                    *line,
                    f["productId"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn csv_rows_know_their_lines() {
        let rows = csv_rows("productId,name,unitPrice,stock\na,A,100,5\n\nb,B,200,6\n")
            .unwrap_or_default();
        assert_eq!(ids(&rows), [(2, "a".to_owned()), (4, "b".to_owned())]);
    }

    #[test]
    fn json_rows_know_their_lines() {
        let text = "{\"items\": [\n  {\"productId\": \"a\"},\n\n  {\"productId\": \"b\"}\n]}";
        let rows = json_rows(text).unwrap_or_default();
        assert_eq!(ids(&rows), [(2, "a".to_owned()), (4, "b".to_owned())]);
        assert!(json_rows("[1, 2]").is_err());
    }

    #[test]
    fn yaml_rows_know_their_lines() {
        let text =
            "items:\n  - productId: a\n    stock: 1\n  # note\n  - productId: b\n    stock: 2\n";
        let rows = yaml_rows(text).unwrap_or_default();
        assert_eq!(ids(&rows), [(2, "a".to_owned()), (5, "b".to_owned())]);
        let top = yaml_rows("- productId: x\n- productId: y\n").unwrap_or_default();
        assert_eq!(ids(&top), [(1, "x".to_owned()), (2, "y".to_owned())]);
        assert!(yaml_rows("- productId: [nested]\n").is_err());
    }
}
