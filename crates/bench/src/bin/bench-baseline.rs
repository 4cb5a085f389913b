//! The limits the API's request path is measured against, on the same runtime and HTTP
//! stack: `GET /bytes` answers fixed bytes (what a cached order read returns), `GET /redis`
//! does one Redis GET of those bytes and answers them. Nothing else: no auth, no
//! middleware, no metrics.
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use clap::Parser;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

// The service's allocator, so the baselines differ from it only by the request path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// A file with the bytes to answer (an order as the API encodes it).
    #[arg(long)]
    body: std::path::PathBuf,
    /// Redis for `/redis`; the bytes are stored under `--redis-key` at start.
    #[arg(long)]
    redis_url: Option<String>,
    #[arg(long, default_value = "orderflow-bench:order")]
    redis_key: String,
}

struct Bare {
    body: axum::body::Bytes,
    redis: Option<ConnectionManager>,
    key: String,
}

async fn bytes(State(bare): State<Arc<Bare>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        bare.body.clone(),
    )
}

async fn from_redis(State(bare): State<Arc<Bare>>) -> axum::response::Response {
    let Some(mut redis) = bare.redis.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match redis.get::<_, Vec<u8>>(&bare.key).await {
        Ok(found) => ([(header::CONTENT_TYPE, "application/json")], found).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let body = std::fs::read(&args.body).context("reading --body")?;
    let redis = match &args.redis_url {
        Some(url) => {
            let mut manager = ConnectionManager::new(redis::Client::open(url.as_str())?).await?;
            let _: () = manager.set(&args.redis_key, &body).await?;
            Some(manager)
        }
        None => None,
    };
    let bare = Arc::new(Bare {
        body: body.into(),
        redis,
        key: args.redis_key,
    });
    let app = Router::new()
        .route("/bytes", get(bytes))
        .route("/redis", get(from_redis))
        .with_state(bare);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!("{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
