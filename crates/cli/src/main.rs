#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orderflow::config::{RunArgs, Settings};
use orderflow::run::Mode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// orderflow: event-driven order processing.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: API, outbox relay and worker on the embedded default
    /// (SQLite in DATA_DIR; nothing to install).
    Serve(Box<RunArgs>),
    /// Run the API and the outbox relay.
    Api(Box<RunArgs>),
    /// Run the queue consumer that processes orders and sends their emails.
    Worker(Box<RunArgs>),
    /// Load a catalog into the inventory (every row is checked before anything is written).
    Seed(Box<orderflow::seed::SeedArgs>),
    /// Run the Kubernetes controller that turns InventorySeed resources into seeding Jobs.
    Controller(Box<orderflow::controller::ControllerArgs>),
    /// Print the InventorySeed CustomResourceDefinition (YAML).
    Crd,
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
        Command::Serve(args) => run(Mode::Serve, &args, dotenv),
        Command::Api(args) => run(Mode::Api, &args, dotenv),
        Command::Worker(args) => run(Mode::Worker, &args, dotenv),
        Command::Seed(args) => seed(&args, dotenv),
        Command::Crd => match orderflow::controller::print_crd() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("orderflow crd: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Controller(args) => controller(&args),
    }
}

fn controller(args: &orderflow::controller::ControllerArgs) -> ExitCode {
    let format = match args.log_format.to_ascii_lowercase().as_str() {
        "pretty" | "text" => orderflow::config::LogFormat::Pretty,
        _ => orderflow::config::LogFormat::Json,
    };
    let _telemetry = orderflow_telemetry::init_logging(format);
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let controller = async {
        let shutdown = orderflow::shutdown::signal();
        orderflow::controller::run(args, shutdown).await
    };
    match runtime.block_on(controller) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "orderflow controller stopped");
            eprintln!("orderflow controller: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Validated settings and a runtime with logging up (and the guard that flushes traces at
/// exit), or the exit code to stop with.
fn prepare(
    args: &RunArgs,
    mode: Option<Mode>,
    dotenv: Result<std::path::PathBuf, dotenvy::Error>,
) -> Result<
    (
        Settings,
        tokio::runtime::Runtime,
        orderflow_telemetry::TelemetryGuard,
    ),
    ExitCode,
> {
    let settings = Settings::load(args)
        .and_then(|settings| {
            let problems = mode.map(|m| settings.problems_for(m)).unwrap_or_default();
            if problems.is_empty() {
                Ok(settings)
            } else {
                Err(problems)
            }
        })
        .map_err(|problems| {
            eprintln!("orderflow cannot start; fix the configuration:");
            for problem in problems {
                eprintln!("  - {problem}");
            }
            ExitCode::from(2)
        })?;
    let telemetry = orderflow_telemetry::init_logging(settings.log_format);
    if let Err(e) = dotenv
        && !e.not_found()
    {
        tracing::warn!(error = %e, "the .env file could not be read");
    }
    let runtime = runtime().map_err(|e| {
        eprintln!("cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })?;
    Ok((settings, runtime, telemetry))
}

fn seed(
    args: &orderflow::seed::SeedArgs,
    dotenv: Result<std::path::PathBuf, dotenvy::Error>,
) -> ExitCode {
    let (settings, runtime, _telemetry) = match prepare(&args.run, None, dotenv) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    match runtime.block_on(orderflow::seed::run(args, &settings)) {
        Ok(orderflow::seed::Outcome::Seeded) => ExitCode::SUCCESS,
        Ok(orderflow::seed::Outcome::InvalidRows) => ExitCode::from(3),
        Err(e) => {
            eprintln!("orderflow seed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(mode: Mode, args: &RunArgs, dotenv: Result<std::path::PathBuf, dotenvy::Error>) -> ExitCode {
    let (settings, runtime, _telemetry) = match prepare(args, Some(mode), dotenv) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let running = async {
        let shutdown = orderflow::shutdown::signal();
        orderflow::run::run(mode, settings, shutdown).await
    };
    match runtime.block_on(running) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "orderflow stopped");
            eprintln!("orderflow: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime. Blocking work (SQLite reads, email files) gets a small pool: the store
/// has four readers (writes and password hashing have threads of their own), so more
/// threads would only wait, and each one keeps memory of its own.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
}

const BLOCKING_THREADS: usize = 16;
