//! `orderflow seed` as operators run it, on the store the tests run on.
use std::path::Path;
use std::process::{Command, Output};

use orderflow::config::RunArgs;
use orderflow::run::Backends;
use orderflow_core::ProductId;

use crate::helpers::{BINARY, settings_for, test_mongo_uri};

struct Seeding {
    dir: tempfile::TempDir,
    mongo_uri: Option<String>,
}

impl Seeding {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            mongo_uri: test_mongo_uri(),
        }
    }

    fn file(&self, name: &str, contents: &str) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn seed(&self, file: &Path, extra: &[&str]) -> Output {
        let mut command = Command::new(BINARY);
        command
            .arg("seed")
            .arg("--file")
            .arg(file)
            .args(extra)
            .env_clear()
            .env("DATA_DIR", self.dir.path().join("data"));
        if let Some(uri) = &self.mongo_uri {
            command.env("MONGO_URI", uri);
        }
        command.output().unwrap()
    }

    async fn stock(&self, id: &str) -> Option<u32> {
        let mongo_uri = self.mongo_uri.clone();
        let settings = settings_for(&self.dir.path().join("data"), |args: &mut RunArgs| {
            args.mongo_uri = mongo_uri;
        });
        let backends = Backends::open(&settings).await.unwrap();
        let product = backends
            .store
            .product(&ProductId::parse(id).unwrap())
            .await
            .unwrap();
        product.map(|p| p.stock)
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const CATALOG_YAML: &str = "\
items:
  - productId: sku-mug
    name: Ceramic mug
    unitPrice: 1999
    currency: USD
    stock: 10
  - productId: sku-tee
    name: Cotton t-shirt
    unitPrice: 2499
    stock: 5
  - productId: sku-cap
    name: Cap
    unitPrice: 1799
    stock: 0
";

#[tokio::test]
async fn a_good_catalog_is_loaded_once_and_a_rerun_changes_nothing() {
    let seeding = Seeding::new();
    let file = seeding.file("catalog.yaml", CATALOG_YAML);

    let first = seeding.seed(&file, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("3 products: 3 created, 0 updated, 0 unchanged"),
        "{}",
        stdout(&first)
    );
    assert!(
        stderr(&first).contains("seeded 3/3 products"),
        "plain progress when not a terminal"
    );
    assert_eq!(seeding.stock("sku-mug").await, Some(10));

    let again = seeding.seed(&file, &[]);
    assert!(again.status.success());
    assert!(
        stdout(&again).contains("3 products: 0 created, 0 updated, 3 unchanged"),
        "{}",
        stdout(&again)
    );
}

#[tokio::test]
async fn every_bad_row_is_reported_by_line_and_nothing_is_written() {
    let seeding = Seeding::new();
    let file = seeding.file(
        "catalog.csv",
        "productId,name,unitPrice,currency,stock\n\
         sku-ok,Fine,100,USD,1\n\
         bad id,Name,100,USD,1\n\
         sku-neg,Name,-5,USD,1\n\
         sku-ok,Again,100,USD,1\n\
         sku-nostock,Name,100,usd,\n",
    );
    let output = seeding.seed(&file, &[]);
    assert_eq!(output.status.code(), Some(3));
    let report = stderr(&output);
    assert!(
        report.contains("4 of 5 rows are invalid; nothing was written"),
        "{report}"
    );
    for expected in [
        "line 3: productId",
        "line 4: unitPrice must not be negative",
        "line 5: productId sku-ok is already on line 2",
        "line 6: stock is missing; currency",
    ] {
        assert!(
            report.contains(expected),
            "{expected:?} missing from:\n{report}"
        );
    }
    assert_eq!(
        seeding.stock("sku-ok").await,
        None,
        "the good row was not written either"
    );
}

#[tokio::test]
async fn set_stock_changes_only_the_stock_of_existing_products() {
    let seeding = Seeding::new();
    let catalog = seeding.file("catalog.yaml", CATALOG_YAML);
    assert!(seeding.seed(&catalog, &[]).status.success());
    let counts = seeding.file(
        "stock.json",
        "[\n  {\"productId\": \"sku-mug\", \"stock\": 42},\n  {\"productId\": \"sku-cap\", \"stock\": 7}\n]",
    );

    let dry = seeding.seed(&counts, &["--mode", "set-stock", "--dry-run"]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(
        stdout(&dry)
            .contains("dry run, nothing written; 2 products: 0 created, 2 updated, 0 unchanged"),
        "{}",
        stdout(&dry)
    );
    assert_eq!(seeding.stock("sku-mug").await, Some(10));

    let set = seeding.seed(&counts, &["--mode", "set-stock"]);
    assert!(set.status.success(), "{}", stderr(&set));
    assert_eq!(seeding.stock("sku-mug").await, Some(42));
    assert_eq!(seeding.stock("sku-cap").await, Some(7));
    assert_eq!(seeding.stock("sku-tee").await, Some(5));

    let unknown = seeding.file(
        "unknown.json",
        "[{\"productId\": \"sku-new\", \"stock\": 1}]",
    );
    let output = seeding.seed(&unknown, &["--mode", "set-stock"]);
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("line 1: product sku-new does not exist"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn unreadable_files_are_named() {
    let seeding = Seeding::new();
    let text = seeding.file("catalog.txt", "whatever");
    let output = seeding.seed(&text, &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("must be a .csv, .json, .yaml or .yml file"));
    let broken = seeding.file("broken.json", "{\"items\": [");
    let output = seeding.seed(&broken, &[]);
    assert!(
        stderr(&output).contains("line 1: not a JSON list"),
        "{}",
        stderr(&output)
    );
}
