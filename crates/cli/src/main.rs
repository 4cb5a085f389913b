#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orderflow::config::{ServeArgs, Settings};

/// orderflow: event-driven order processing.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API on the embedded default (SQLite in DATA_DIR; nothing to install).
    Serve(Box<ServeArgs>),
    /// Print the OpenAPI document.
    Openapi,
}

fn main() -> ExitCode {
    // A missing .env is normal; a broken one is reported once logging is up.
    let dotenv = dotenvy::dotenv();
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            println!("{}", orderflow_api::openapi_json());
            ExitCode::SUCCESS
        }
        Command::Serve(args) => {
            let settings = match Settings::load(&args) {
                Ok(settings) => settings,
                Err(problems) => {
                    eprintln!("orderflow cannot start; fix the configuration:");
                    for problem in problems {
                        eprintln!("  - {problem}");
                    }
                    return ExitCode::from(2);
                }
            };
            orderflow::telemetry::init(settings.log_format);
            if let Err(e) = dotenv
                && !e.not_found()
            {
                tracing::warn!(error = %e, "the .env file could not be read");
            }
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(orderflow::serve::run(
                settings,
                orderflow::shutdown::signal(),
            )) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "orderflow stopped");
                    eprintln!("orderflow: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
