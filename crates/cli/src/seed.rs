//! `orderflow seed --file catalog.{yaml,json,csv}`: validate every row, then load them.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use orderflow_core::ports::Store;
use orderflow_core::usecases::{SeedError, SeedMode, SeedService};
use orderflow_store::{MongoStore, SqliteStore};

use crate::config::{RunArgs, Settings};
use orderflow_catalog as catalog_file;

/// Products written per store call.
const BATCH: usize = 500;

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// The catalog: .csv (with a header row), .json or .yaml; fields productId, name,
    /// unitPrice (minor units), currency (default USD), stock.
    #[arg(long)]
    pub file: PathBuf,
    /// upsert: create or replace products; set-stock: only set the stock of existing ones.
    #[arg(long, value_enum, default_value_t = Mode::Upsert)]
    pub mode: Mode,
    /// Validate and report what would change, without writing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Upsert,
    SetStock,
}

/// Why seeding stopped, for the exit code.
pub enum Outcome {
    Seeded,
    InvalidRows,
}

pub async fn run(args: &SeedArgs, settings: &Settings) -> anyhow::Result<Outcome> {
    let rows = catalog_file::read(&args.file).map_err(anyhow::Error::msg)?;
    let store: Arc<dyn Store> = match &settings.mongo_uri {
        Some(uri) => Arc::new(MongoStore::connect(uri).await?),
        None => {
            let data_dir = settings.data_dir.clone();
            Arc::new(
                tokio::task::spawn_blocking(move || SqliteStore::open(&data_dir))
                    .await
                    .context("opening the store")??,
            )
        }
    };
    let seeding = SeedService::new(store);
    let mode = match args.mode {
        Mode::Upsert => SeedMode::Upsert,
        Mode::SetStock => SeedMode::SetStock,
    };
    let products = match seeding.validate(&rows, mode).await {
        Ok(products) => products,
        Err(SeedError::Invalid(errors)) => {
            eprintln!(
                "{}: {} of {} rows are invalid; nothing was written:",
                args.file.display(),
                errors.len(),
                rows.len()
            );
            for error in errors {
                eprintln!("  line {}: {}", error.line, error.message);
            }
            return Ok(Outcome::InvalidRows);
        }
        Err(SeedError::Store(e)) => return Err(e.into()),
    };
    let summary = if args.dry_run {
        seeding.preview(&products).await?
    } else {
        let mut progress = Progress::new(products.len());
        let summary = seeding
            .apply(&products, BATCH, |written| progress.advance(written))
            .await?;
        progress.finish();
        summary
    };
    println!(
        "{}{} products: {} created, {} updated, {} unchanged",
        if args.dry_run {
            "dry run, nothing written; "
        } else {
            ""
        },
        products.len(),
        summary.created,
        summary.updated,
        summary.unchanged
    );
    Ok(Outcome::Seeded)
}

/// A bar on a terminal; plain progress lines otherwise (logs, CI, Kubernetes Jobs).
enum Progress {
    Bar(ProgressBar),
    Lines { done: usize, total: usize },
}

impl Progress {
    fn new(total: usize) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} products ({eta})")
            {
                bar.set_style(style);
            }
            Self::Bar(bar)
        } else {
            Self::Lines { done: 0, total }
        }
    }

    fn advance(&mut self, written: usize) {
        match self {
            Self::Bar(bar) => bar.inc(written as u64),
            Self::Lines { done, total } => {
                *done += written;
                eprintln!("seeded {done}/{total} products");
            }
        }
    }

    fn finish(self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
