//! `serve`, `api` and `worker`: opening the backends, wiring the adapters, and running the
//! services until a shutdown signal.
use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use orderflow_api::auth::{Argon2Hasher, JwtAccessTokens, JwtSecret};
use orderflow_api::{AppState, Application, Dependencies};
use orderflow_core::ports::{
    AcceptAll, Mailer, OrderCache, OrderProcessor, PipelineObserver, Queue, RateLimiter,
    StatusBroadcaster, Store,
};
use orderflow_core::usecases::{CachePolicy, EmailingService, ProcessingService};
use orderflow_infra::aws::{SesMailer, SqsQueue, load_sdk_config};
use orderflow_infra::file::FileMailer;
use orderflow_infra::memory::{MemoryOrderCache, MemoryRateLimiter, MemoryStatusBroadcaster};
use orderflow_infra::redis::{
    RedisConnection, RedisOrderCache, RedisRateLimiter, RedisStatusBroadcaster,
};
use orderflow_store::{MongoStore, SqliteQueue, SqliteStore};
use orderflow_telemetry::{
    InstrumentedCache, InstrumentedMailer, InstrumentedQueue, InstrumentedStore, Metrics,
};
use orderflow_worker::{
    CancellationToken, EmailSender, EmailSenderSettings, Housekeeper, OutboxRelay, PipelineSampler,
    RelaySettings, Worker, WorkerSettings, YieldToRequests,
};

use crate::config::Settings;
use crate::worker_probe;
use crate::{demo_catalog, jwt_secret};

/// Distinct rate-limit keys kept in memory before expired windows are swept.
const RATE_LIMIT_KEYS: usize = 100_000;
/// How often the API process purges expired tokens, keys and old outbox entries.
const HOUSEKEEPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);
/// How often the queue depth and outbox backlog gauges are refreshed.
const GAUGE_SAMPLING: std::time::Duration = std::time::Duration::from_secs(5);
/// Status events buffered per watcher before it skips ahead.
const BROADCAST_CAPACITY: usize = 1024;

/// Which services a command runs in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// API, outbox relay and worker: the embedded default.
    Serve,
    /// API and outbox relay.
    Api,
    /// Queue consumer only.
    Worker,
}

impl Mode {
    /// The subcommand that runs this mode.
    pub fn command(self) -> &'static str {
        match self {
            Self::Serve => "serve",
            Self::Api => "api",
            Self::Worker => "worker",
        }
    }

    fn runs_api(self) -> bool {
        matches!(self, Self::Serve | Self::Api)
    }

    fn runs_worker(self) -> bool {
        matches!(self, Self::Serve | Self::Worker)
    }
}

/// The adapters every service of this process shares.
#[derive(Clone)]
pub struct Backends {
    pub store: Arc<dyn Store>,
    /// The store for the worker, the outbox relay and housekeeping: on the SQLite file its
    /// writes give way to requests' (see `SqliteStore::background`); else `store` itself.
    pub background_store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub cache: Arc<dyn OrderCache>,
    pub rate_limiter: Arc<dyn RateLimiter>,
    pub broadcaster: Arc<dyn StatusBroadcaster>,
    pub mailer: Arc<dyn Mailer>,
    /// Whether every process shares `cache` (Redis), so workers elsewhere refresh it.
    pub shared_cache: bool,
    /// This process's metrics, served on `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl Backends {
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let metrics = Arc::new(Metrics::new());
        // The SQLite file holds the store unless MongoDB does, and the queue unless SQS does.
        let embedded = if settings.mongo_uri.is_none() || settings.sqs_queue_url.is_none() {
            let data_dir = settings.data_dir.clone();
            Some(
                tokio::task::spawn_blocking(move || SqliteStore::open(&data_dir))
                    .await
                    .context("opening the embedded store")??,
            )
        } else {
            None
        };
        let sqlite = || {
            embedded
                .clone()
                .context("the SQLite file is opened whenever MongoDB or SQS is not configured")
        };
        let (store, background_store): (Arc<dyn Store>, Arc<dyn Store>) = match &settings.mongo_uri
        {
            Some(uri) => {
                let mongo = MongoStore::connect(uri).await?;
                tracing::info!(database = mongo.database_name(), "store: MongoDB");
                let store: Arc<dyn Store> = Arc::new(InstrumentedStore::new(
                    Arc::new(mongo),
                    "mongodb",
                    metrics.clone(),
                ));
                (Arc::clone(&store), store)
            }
            None => {
                tracing::info!("store: SQLite in DATA_DIR");
                let sqlite = sqlite()?;
                let instrumented = |store: SqliteStore| -> Arc<dyn Store> {
                    Arc::new(InstrumentedStore::new(
                        Arc::new(store),
                        "sqlite",
                        metrics.clone(),
                    ))
                };
                (
                    instrumented(sqlite.clone()),
                    instrumented(sqlite.background()),
                )
            }
        };
        let uses_aws = settings.sqs_queue_url.is_some() || settings.ses.is_some();
        let sdk = if uses_aws {
            let sdk = load_sdk_config(|name| settings.aws_env.get(name)).await;
            anyhow::ensure!(
                sdk.region().is_some(),
                "AWS_REGION: not set, and no AWS profile names a region; SQS and SES need one"
            );
            Some(sdk)
        } else {
            None
        };
        let queue: Arc<dyn Queue> = match (&settings.sqs_queue_url, &sdk) {
            (Some(url), Some(sdk)) => {
                let sqs = SqsQueue::connect(sdk, url.as_str()).await?;
                tracing::info!(queue = url, max_receives = sqs.max_receives(), "queue: SQS");
                let name = url.rsplit('/').next().unwrap_or(url.as_str());
                Arc::new(InstrumentedQueue::new(
                    Arc::new(sqs),
                    "aws_sqs",
                    name,
                    metrics.clone(),
                ))
            }
            _ => {
                tracing::info!("queue: embedded, in the SQLite file in DATA_DIR");
                let embedded = SqliteQueue::new(&sqlite()?, settings.queue_max_receives);
                Arc::new(InstrumentedQueue::new(
                    Arc::new(embedded),
                    "sqlite",
                    "orders",
                    metrics.clone(),
                ))
            }
        };
        let mailer: Arc<dyn Mailer> = match (&settings.ses, &sdk) {
            (Some(ses), Some(sdk)) => {
                tracing::info!(from = ses.from, "mail: SES v2");
                Arc::new(InstrumentedMailer::new(
                    Arc::new(SesMailer::new(sdk, ses.clone())),
                    "aws_ses",
                    metrics.clone(),
                ))
            }
            _ => {
                tracing::info!(dir = %settings.mail_dir.display(), "mail: .eml files");
                let files = FileMailer::new(&settings.mail_dir, &settings.mail_from)?;
                Arc::new(InstrumentedMailer::new(
                    Arc::new(files),
                    "file",
                    metrics.clone(),
                ))
            }
        };
        let shared = SharedState::open(settings, &metrics)?;
        Ok(Self {
            store,
            background_store,
            queue,
            cache: shared.cache,
            rate_limiter: shared.rate_limiter,
            broadcaster: shared.broadcaster,
            mailer,
            shared_cache: shared.across_processes,
            metrics,
        })
    }
}

/// The cache, rate limits and status broadcast: on Redis when configured (shared by every
/// process), else in this process.
struct SharedState {
    cache: Arc<dyn OrderCache>,
    rate_limiter: Arc<dyn RateLimiter>,
    broadcaster: Arc<dyn StatusBroadcaster>,
    across_processes: bool,
}

impl SharedState {
    fn open(settings: &Settings, metrics: &Arc<Metrics>) -> anyhow::Result<Self> {
        Ok(match &settings.redis {
            Some(redis) => {
                let redis = RedisConnection::open(redis.clone())?;
                tracing::info!("cache, rate limits and status stream: Redis");
                Self {
                    cache: Arc::new(InstrumentedCache::new(
                        Arc::new(RedisOrderCache::new(redis.clone(), settings.cache_ttl)),
                        "redis",
                        metrics.clone(),
                    )),
                    rate_limiter: Arc::new(RedisRateLimiter::new(redis.clone())),
                    broadcaster: Arc::new(RedisStatusBroadcaster::new(redis, BROADCAST_CAPACITY)),
                    across_processes: true,
                }
            }
            None => Self {
                cache: Arc::new(MemoryOrderCache::new(
                    settings.cache_max_entries,
                    settings.cache_ttl,
                )),
                rate_limiter: Arc::new(MemoryRateLimiter::new(RATE_LIMIT_KEYS)),
                broadcaster: Arc::new(MemoryStatusBroadcaster::new(BROADCAST_CAPACITY)),
                across_processes: false,
            },
        })
    }
}

/// Everything the API needs before it answers: demo catalog, secret, hasher, listener.
pub async fn build_api(settings: &Settings, backends: &Backends) -> anyhow::Result<Application> {
    if settings.seed_demo_catalog {
        demo_catalog::seed_if_empty(backends.store.as_ref()).await?;
    }
    let secret = match &settings.jwt_secret {
        Some(secret) => secret.clone(),
        None => {
            let data_dir = settings.data_dir.clone();
            let bytes = tokio::task::spawn_blocking(move || jwt_secret::load_or_create(&data_dir))
                .await??;
            JwtSecret::new(bytes).context("the JWT secret kept in DATA_DIR is too short")?
        }
    };
    // Two per core: during a login flood the hashing threads are always runnable and the
    // scheduler shares the cores per thread, so with one per core a request load alongside
    // took most of the CPU (docs/BENCHMARKS.md, "Login storm").
    let threads = settings
        .password_hash_threads
        .unwrap_or_else(|| 2 * std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Cheap now: the dummy hash is a constant; hashing threads start idle.
    let hasher = Argon2Hasher::new(threads)?;
    let deps = Dependencies {
        store: Arc::clone(&backends.store),
        cache: Arc::clone(&backends.cache),
        rate_limiter: Arc::clone(&backends.rate_limiter),
        password_hasher: Arc::new(hasher),
        access_tokens: Arc::new(JwtAccessTokens::new(&secret, settings.access_token_ttl)),
        broadcaster: Arc::clone(&backends.broadcaster),
        queue: Arc::clone(&backends.queue),
        metrics: Arc::clone(&backends.metrics),
    };
    let state = AppState::new(deps, settings.api.clone());
    Application::bind(settings.listen, state)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))
}

/// The relay; `yield_to_requests`: when it yields to the requests of its process.
pub fn build_relay(backends: &Backends, yield_to_requests: Option<YieldToRequests>) -> OutboxRelay {
    OutboxRelay::new(
        Arc::clone(&backends.background_store),
        Arc::clone(&backends.queue),
        RelaySettings {
            yield_to_requests,
            ..RelaySettings::default()
        },
    )
    .with_metrics(Arc::clone(&backends.metrics))
}

/// The worker; `yield_to_requests`: when it yields to the requests of its process.
pub fn build_worker(
    settings: &Settings,
    backends: &Backends,
    processor: Arc<dyn OrderProcessor>,
    yield_to_requests: Option<YieldToRequests>,
) -> Worker {
    let processing = ProcessingService::new(
        Arc::clone(&backends.background_store),
        Arc::clone(&backends.cache),
        Arc::clone(&backends.broadcaster),
        processor,
    )
    .with_observer(Arc::clone(&backends.metrics) as Arc<dyn PipelineObserver>);
    Worker::new(
        Arc::clone(&backends.queue),
        Arc::new(processing),
        WorkerSettings {
            yield_to_requests,
            ..settings.worker.clone()
        },
    )
    .with_metrics(Arc::clone(&backends.metrics))
}

/// The sender of the emails that orders' final steps record.
pub fn build_email_sender(settings: &Settings, backends: &Backends) -> EmailSender {
    let emailing = EmailingService::new(
        Arc::clone(&backends.background_store),
        Arc::clone(&backends.mailer),
        settings.email.clone(),
    )
    .with_observer(Arc::clone(&backends.metrics) as Arc<dyn PipelineObserver>);
    EmailSender::new(Arc::new(emailing), EmailSenderSettings::default())
}

/// Started services of one process.
pub struct Running {
    pub api: Option<std::net::SocketAddr>,
    /// `orderflow worker`'s probe and metrics address.
    pub worker_probe: Option<std::net::SocketAddr>,
    tasks: tokio::task::JoinSet<anyhow::Result<()>>,
    stop: CancellationToken,
}

impl Running {
    /// Asks every service to stop and waits until they have.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.wait().await
    }

    /// Waits until every service has stopped (after a shutdown).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        while let Some(result) = self.tasks.join_next().await {
            result.context("a service task panicked")??;
        }
        Ok(())
    }
}

/// Starts the services of `mode`; they run until [`Running::stop`] or `stop` is cancelled.
pub async fn start(
    mode: Mode,
    settings: &Settings,
    backends: &Backends,
    processor: Arc<dyn OrderProcessor>,
    stop: CancellationToken,
) -> anyhow::Result<Running> {
    let mut tasks = tokio::task::JoinSet::new();
    // Only where the API and the worker share a process: the relay of `orderflow api` feeds
    // workers elsewhere, and a worker of its own process has no requests to yield to.
    let yield_to_requests = settings
        .yield_to_requests
        .filter(|_| mode.runs_api() && mode.runs_worker());
    let mut api = None;
    let mut worker_probe = None;
    let sampler = PipelineSampler {
        queue: Arc::clone(&backends.queue),
        store: mode.runs_api().then(|| Arc::clone(&backends.store)),
        emails: mode.runs_worker().then(|| Arc::clone(&backends.store)),
        metrics: Arc::clone(&backends.metrics),
        every: GAUGE_SAMPLING,
    };
    let stopped = stop.clone();
    tasks.spawn(async move {
        sampler.run(stopped).await;
        Ok(())
    });
    if mode.runs_api() {
        let app = build_api(settings, backends).await?;
        api = Some(app.local_addr()?);
        let stopped = stop.clone();
        tasks.spawn(async move {
            app.run(async move { stopped.cancelled().await }).await;
            Ok(())
        });
        let relay = build_relay(backends, yield_to_requests);
        let stopped = stop.clone();
        tasks.spawn(async move {
            relay.run(stopped).await;
            Ok(())
        });
        let housekeeper = Housekeeper::new(
            Arc::clone(&backends.background_store),
            HOUSEKEEPING_INTERVAL,
        );
        let stopped = stop.clone();
        tasks.spawn(async move {
            housekeeper.run(stopped).await;
            Ok(())
        });
    }
    if mode == Mode::Worker {
        let probe = worker_probe::bind(settings.worker_listen, backends).await?;
        worker_probe = Some(probe.local_addr()?);
        let stopped = stop.clone();
        tasks.spawn(async move { probe.run(stopped).await });
    }
    if mode.runs_worker() {
        let worker = build_worker(settings, backends, processor, yield_to_requests);
        // The sender stops after the worker, so that the emails of the orders a stopping
        // worker finishes go out with them.
        let sender = build_email_sender(settings, backends);
        let sender_stop = CancellationToken::new();
        let stopped = sender_stop.clone();
        tasks.spawn(async move {
            sender.run(stopped).await;
            Ok(())
        });
        let stopped = stop.clone();
        tasks.spawn(async move {
            worker.run(stopped).await;
            sender_stop.cancel();
            Ok(())
        });
    }
    Ok(Running {
        api,
        worker_probe,
        tasks,
        stop,
    })
}

pub async fn run(
    mode: Mode,
    mut settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let backends = Backends::open(&settings).await?;
    if mode == Mode::Api && !backends.shared_cache {
        // The workers run in other processes and cannot refresh this process's cache.
        settings.api.cache_policy = CachePolicy::FinalOrdersOnly;
    }
    let stop = CancellationToken::new();
    let running = start(
        mode,
        &settings,
        &backends,
        Arc::new(AcceptAll),
        stop.clone(),
    )
    .await?;
    tracing::info!(
        ?mode,
        api = ?running.api,
        worker_probe = ?running.worker_probe,
        data_dir = %settings.data_dir.display(),
        mail_dir = %settings.mail_dir.display(),
        "orderflow is running"
    );
    let stop_on_signal = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop_on_signal.cancel();
    });
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}
