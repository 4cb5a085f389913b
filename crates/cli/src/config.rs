//! Configuration: flags, environment variables (with the Node services' names as aliases) and
//! `.env`, validated all at once so every problem is reported together, by variable name.
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;
use orderflow_api::auth::JwtSecret;
use orderflow_api::{ApiSettings, ConnectionLimits, OptionalDependency};
use orderflow_infra::aws::{AWS_VARIABLES, SesSettings};
use orderflow_infra::redis::RedisSettings;

use crate::run::Mode;
use orderflow_core::usecases::EmailPolicy;
use orderflow_worker::{WorkerSettings, YieldToRequests};

#[derive(Debug, Default, Clone, Args)]
pub struct RunArgs {
    /// Address to listen on.
    #[arg(long, env = "HOST")]
    pub host: Option<String>,
    /// Port to listen on (default 8080; 0 picks a free one).
    #[arg(long, env = "PORT")]
    pub port: Option<String>,
    /// Where the embedded store, its queue and generated secrets live (default ./data).
    #[arg(long, env = "DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// HS256 secret for access tokens, at least 32 bytes (alias JWT_PRIVATE_KEY). Generated
    /// and kept in DATA_DIR when unset.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Access token lifetime, e.g. 900, 900s, 15m (alias JWT_EXPIRES_IN).
    #[arg(long, env = "ACCESS_TOKEN_TTL")]
    pub access_token_ttl: Option<String>,
    /// Refresh token lifetime, e.g. 7d (alias JWT_REFRESH_EXPIRES_IN).
    #[arg(long, env = "REFRESH_TOKEN_TTL")]
    pub refresh_token_ttl: Option<String>,
    /// Requests a minute per client IP to each of register, login and refresh (default 30).
    #[arg(long, env = "AUTH_RATE_LIMIT_PER_MINUTE")]
    pub auth_rate_limit_per_minute: Option<String>,
    /// Order event streams a user may have open at once (default 5); beyond it, 429.
    #[arg(long, env = "EVENT_STREAMS_PER_USER")]
    pub event_streams_per_user: Option<String>,
    /// Order event streams open at once in all (default 1000); beyond it, 429.
    #[arg(long, env = "EVENT_STREAMS_MAX")]
    pub event_streams_max: Option<String>,
    /// The window AUTH_RATE_LIMIT_PER_MINUTE counts in, e.g. 30s (default 1m).
    #[arg(long, env = "AUTH_RATE_LIMIT_WINDOW")]
    pub auth_rate_limit_window: Option<String>,
    /// Failed logins per email in LOGIN_FAILURE_WINDOW before 429 (default 10).
    #[arg(long, env = "LOGIN_FAILURE_LIMIT")]
    pub login_failure_limit: Option<String>,
    /// The window failed logins are counted in (default 15m).
    #[arg(long, env = "LOGIN_FAILURE_WINDOW")]
    pub login_failure_window: Option<String>,
    /// Threads that hash and verify passwords, each holding 7 MiB while it hashes (default:
    /// two per core).
    #[arg(long, env = "PASSWORD_HASH_THREADS")]
    pub password_hash_threads: Option<String>,
    /// Comma-separated IPs or CIDRs of proxies whose X-Forwarded-For is trusted.
    #[arg(long, env = "TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Largest accepted request body in bytes (default 65536).
    #[arg(long, env = "BODY_LIMIT_BYTES")]
    pub body_limit_bytes: Option<String>,
    /// Largest accepted request head in bytes, at least 8192 (default 16384); larger: 431.
    #[arg(long, env = "MAX_HEADER_BYTES")]
    pub max_header_bytes: Option<String>,
    /// How long a client may take to send its request head, e.g. 10s (default 10s).
    #[arg(long, env = "HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<String>,
    /// How long open connections get to finish after SIGTERM, e.g. 10s (default 10s).
    #[arg(long, env = "SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<String>,
    /// Send Strict-Transport-Security with this max-age, e.g. 365d (default: not sent).
    #[arg(long, env = "HSTS_MAX_AGE")]
    pub hsts_max_age: Option<String>,
    /// Comma-separated origins allowed to call the API from browsers (default: none).
    #[arg(long, env = "CORS_ALLOWED_ORIGINS")]
    pub cors_allowed_origins: Option<String>,
    /// Comma-separated dependencies, of cache and queue, whose outage /readyz reports as
    /// degraded (200) rather than unready (503) (default: none).
    #[arg(long, env = "READINESS_OPTIONAL")]
    pub readiness_optional: Option<String>,
    /// How long a cached order lives, e.g. 600s (default 10m).
    #[arg(long, env = "CACHE_TTL")]
    pub cache_ttl: Option<String>,
    /// Most orders the in-process cache holds (default 20000, about 1 KiB each).
    #[arg(long, env = "CACHE_MAX_ENTRIES")]
    pub cache_max_entries: Option<String>,
    /// Seed a demo catalog when the inventory is empty (default true).
    #[arg(long, env = "SEED_DEMO_CATALOG")]
    pub seed_demo_catalog: Option<String>,
    /// Log format: pretty or json (default: pretty at a terminal, else json).
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,
    /// MongoDB connection string (alias MONGODB_URI); selects MongoDB as the store. Unset:
    /// the embedded SQLite store in DATA_DIR.
    #[arg(long, env = "MONGO_URI", hide_env_values = true)]
    pub mongo_uri: Option<String>,
    /// Sender of order emails (default "orderflow <orders@orderflow.local>").
    #[arg(long, env = "MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Where the file mailer writes .eml files (default DATA_DIR/mail).
    #[arg(long, env = "MAIL_DIR")]
    pub mail_dir: Option<PathBuf>,
    /// Orders a worker processes at once (default 128).
    #[arg(long, env = "WORKER_CONCURRENCY")]
    pub worker_concurrency: Option<String>,
    /// How long a received message stays hidden while processed (default 30s).
    #[arg(long, env = "WORKER_VISIBILITY_TIMEOUT")]
    pub worker_visibility_timeout: Option<String>,
    /// First retry delay of a failing order, doubled per attempt (default 1s).
    #[arg(long, env = "WORKER_RETRY_DELAY")]
    pub worker_retry_delay: Option<String>,
    /// How long a stopping worker finishes in-flight orders (default 20s).
    #[arg(long, env = "WORKER_SHUTDOWN_DEADLINE")]
    pub worker_shutdown_deadline: Option<String>,
    /// Sends of an order email before it is given up as failed (default 12: about 20 minutes
    /// of retries).
    #[arg(long, env = "EMAIL_MAX_ATTEMPTS")]
    pub email_max_attempts: Option<String>,
    /// First pause after a failed email send, doubled per attempt up to 5 minutes (default 1s).
    #[arg(long, env = "EMAIL_RETRY_DELAY")]
    pub email_retry_delay: Option<String>,
    /// How long an email being sent is left to its sender before another sends it, should
    /// the first have died (default 60s).
    #[arg(long, env = "EMAIL_LEASE")]
    pub email_lease: Option<String>,
    /// `serve`: requests in flight (on average over about 20 ms) from which the relay and
    /// worker yield the cores to them, each taking one batch of at most 10 per 20 ms until
    /// they are fewer (default 8; `off`: never).
    #[arg(long, env = "BACKGROUND_YIELD_AT_REQUESTS")]
    pub background_yield_at_requests: Option<String>,
    /// Deliveries of a message before it is dead-lettered and its order failed (default 5).
    /// The embedded queue only: SQS takes it from the queue's redrive policy.
    #[arg(long, env = "QUEUE_MAX_RECEIVES")]
    pub queue_max_receives: Option<String>,
    /// Port of `orderflow worker`'s /healthz, /readyz and /metrics (default 9091; 0 picks one).
    #[arg(long, env = "WORKER_METRICS_PORT")]
    pub worker_metrics_port: Option<String>,
    /// How often an order's event stream re-reads the store besides hearing status changes
    /// (default 500ms; 10s with Redis, whose pub/sub carries the changes).
    #[arg(long, env = "SSE_RECHECK_INTERVAL")]
    pub sse_recheck_interval: Option<String>,
    /// Redis URL, redis:// or rediss:// (TLS); selects Redis for the order cache, rate limits
    /// and the status stream. Or give REDIS_HOST, REDIS_PORT and REDIS_PASSWORD.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Redis host, when REDIS_URL is not given.
    #[arg(long, env = "REDIS_HOST")]
    pub redis_host: Option<String>,
    /// Redis port with REDIS_HOST (default 6379).
    #[arg(long, env = "REDIS_PORT")]
    pub redis_port: Option<String>,
    /// Redis password with REDIS_HOST.
    #[arg(long, env = "REDIS_PASSWORD", hide_env_values = true)]
    pub redis_password: Option<String>,
    /// Prefix of every Redis key and channel (default "orderflow:").
    #[arg(long, env = "REDIS_KEY_PREFIX")]
    pub redis_key_prefix: Option<String>,
    /// SQS queue URL (alias AWS_SQS_QUEUE_URL); selects SQS as the order queue. The queue
    /// needs a redrive policy naming its dead-letter queue.
    #[arg(long, env = "SQS_QUEUE_URL")]
    pub sqs_queue_url: Option<String>,
    /// Long-poll wait of one SQS receive, up to 20s (default 20s).
    #[arg(long, env = "SQS_WAIT_TIME")]
    pub sqs_wait_time: Option<String>,
    /// Verified SES sender (aliases AWS_SES_SENDER_EMAIL, SES_EMAIL); selects SES v2 for
    /// order emails.
    #[arg(long, env = "SES_SENDER_EMAIL")]
    pub ses_sender_email: Option<String>,
    /// SES configuration set for sending events (bounces, complaints, deliveries).
    #[arg(long, env = "SES_CONFIGURATION_SET")]
    pub ses_configuration_set: Option<String>,
}

pub use orderflow_telemetry::LogFormat;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Where `orderflow worker` serves its probes and metrics.
    pub worker_listen: SocketAddr,
    pub data_dir: PathBuf,
    /// `Some`: MongoDB is the store (the queue stays in `data_dir`).
    pub mongo_uri: Option<String>,
    /// `None`: use (or create) the secret kept in `data_dir`.
    pub jwt_secret: Option<JwtSecret>,
    pub access_token_ttl: Duration,
    /// `None`: two per core.
    pub password_hash_threads: Option<usize>,
    pub api: ApiSettings,
    pub cache_ttl: Duration,
    pub cache_max_entries: u64,
    pub seed_demo_catalog: bool,
    pub log_format: LogFormat,
    pub mail_from: String,
    pub mail_dir: PathBuf,
    pub worker: WorkerSettings,
    /// How order emails are sent and retried.
    pub email: EmailPolicy,
    /// When the relay and worker of `serve` yield to its requests; `None`: never.
    pub yield_to_requests: Option<YieldToRequests>,
    pub queue_max_receives: u32,
    /// `Some`: Redis holds the order cache, rate limits and status stream.
    pub redis: Option<RedisSettings>,
    /// `Some`: SQS is the order queue.
    pub sqs_queue_url: Option<String>,
    /// `Some`: SES v2 sends the order emails.
    pub ses: Option<SesSettings>,
    /// The AWS variables that were set ([`AWS_VARIABLES`]), for the SDK configuration.
    pub aws_env: AwsEnv,
}

/// AWS variables by name; `Debug` names them without their values (secret keys among them).
#[derive(Clone, Default)]
pub struct AwsEnv(pub BTreeMap<String, String>);

impl AwsEnv {
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

impl std::fmt::Debug for AwsEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Settings {
    /// From parsed flags, with aliases and unsupported variables looked up in the process
    /// environment.
    pub fn load(args: &RunArgs) -> Result<Self, Vec<String>> {
        Self::load_from(args, |name| std::env::var(name).ok())
    }

    pub fn load_from(
        args: &RunArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let either = |value: &Option<String>, alias: &str| {
            value
                .clone()
                .or_else(|| env(alias))
                .filter(|v| !v.trim().is_empty())
        };
        let mut check = |name: &str, result: Result<(), String>| {
            if let Err(message) = result {
                problems.push(format!("{name}: {message}"));
            }
        };

        let mut host = IpAddr::from([0, 0, 0, 0]);
        if let Some(raw) = &args.host {
            check(
                "HOST",
                raw.trim()
                    .parse()
                    .map(|ip| host = ip)
                    .map_err(|_| format!("{raw:?} is not an IP address")),
            );
        }
        let mut port = 8080u16;
        if let Some(raw) = &args.port {
            check(
                "PORT",
                raw.trim()
                    .parse()
                    .map(|p| port = p)
                    .map_err(|_| format!("{raw:?} is not a port number (0-65535)")),
            );
        }
        let mut worker_port = 9091u16;
        if let Some(raw) = &args.worker_metrics_port {
            check(
                "WORKER_METRICS_PORT",
                raw.trim()
                    .parse()
                    .map(|p| worker_port = p)
                    .map_err(|_| format!("{raw:?} is not a port number (0-65535)")),
            );
        }
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("./data"));

        let mut jwt_secret = None;
        if let Some(raw) = either(&args.jwt_secret, "JWT_PRIVATE_KEY") {
            check(
                "JWT_SECRET",
                JwtSecret::new(raw.into_bytes())
                    .map(|s| jwt_secret = Some(s))
                    .map_err(|e| e.to_string()),
            );
        }
        let mut access_token_ttl = Duration::from_secs(15 * 60);
        if let Some(raw) = either(&args.access_token_ttl, "JWT_EXPIRES_IN") {
            check(
                "ACCESS_TOKEN_TTL",
                parse_duration(&raw).map(|d| access_token_ttl = d),
            );
        }
        let mut api = ApiSettings::default();
        if let Some(raw) = either(&args.refresh_token_ttl, "JWT_REFRESH_EXPIRES_IN") {
            check(
                "REFRESH_TOKEN_TTL",
                parse_duration(&raw).map(|d| api.refresh_token_ttl = d),
            );
        }
        if let Some(raw) = &args.event_streams_per_user {
            check(
                "EVENT_STREAMS_PER_USER",
                parse_positive(raw).map(|n| api.event_streams.per_user = n),
            );
        }
        if let Some(raw) = &args.event_streams_max {
            check(
                "EVENT_STREAMS_MAX",
                parse_positive(raw).map(|n| api.event_streams.total = n),
            );
        }
        if let Some(raw) = &args.auth_rate_limit_per_minute {
            check(
                "AUTH_RATE_LIMIT_PER_MINUTE",
                parse_positive(raw).map(|n| api.rate_limits.per_ip.limit = n),
            );
        }
        if let Some(raw) = &args.auth_rate_limit_window {
            check(
                "AUTH_RATE_LIMIT_WINDOW",
                parse_duration(raw).map(|d| api.rate_limits.per_ip.window = d),
            );
        }
        if let Some(raw) = &args.login_failure_limit {
            check(
                "LOGIN_FAILURE_LIMIT",
                parse_positive(raw).map(|n| api.rate_limits.failed_logins_per_email.limit = n),
            );
        }
        if let Some(raw) = &args.login_failure_window {
            check(
                "LOGIN_FAILURE_WINDOW",
                parse_duration(raw).map(|d| api.rate_limits.failed_logins_per_email.window = d),
            );
        }
        let mut password_hash_threads = None;
        if let Some(raw) = &args.password_hash_threads {
            check(
                "PASSWORD_HASH_THREADS",
                parse_positive(raw).map(|n| password_hash_threads = Some(n as usize)),
            );
        }
        if let Some(raw) = &args.trusted_proxies {
            check(
                "TRUSTED_PROXIES",
                parse_networks(raw).map(|nets| api.trusted_proxies = nets),
            );
        }
        if let Some(raw) = &args.body_limit_bytes {
            check(
                "BODY_LIMIT_BYTES",
                parse_positive(raw).map(|n| api.body_limit_bytes = n as usize),
            );
        }
        if let Some(raw) = &args.max_header_bytes {
            check(
                "MAX_HEADER_BYTES",
                parse_positive(raw)
                    .map(|n| n as usize)
                    .and_then(|n| {
                        if n >= ConnectionLimits::MIN_HEADER_BYTES {
                            Ok(n)
                        } else {
                            Err(format!(
                                "{n} is below the smallest limit, {}",
                                ConnectionLimits::MIN_HEADER_BYTES
                            ))
                        }
                    })
                    .map(|n| api.connections.max_header_bytes = n),
            );
        }
        if let Some(raw) = &args.header_read_timeout {
            check(
                "HEADER_READ_TIMEOUT",
                parse_duration(raw).map(|d| api.connections.header_read_timeout = d),
            );
        }
        if let Some(raw) = &args.shutdown_grace {
            check(
                "SHUTDOWN_GRACE",
                parse_duration(raw).map(|d| api.connections.shutdown_grace = d),
            );
        }
        if let Some(raw) = &args.hsts_max_age {
            check(
                "HSTS_MAX_AGE",
                parse_duration(raw).map(|d| api.hsts_max_age = Some(d)),
            );
        }
        if let Some(raw) = &args.cors_allowed_origins {
            check(
                "CORS_ALLOWED_ORIGINS",
                parse_origins(raw).map(|origins| api.cors_allowed_origins = origins),
            );
        }
        if let Some(raw) = &args.readiness_optional {
            check(
                "READINESS_OPTIONAL",
                parse_optional_dependencies(raw).map(|deps| api.readiness_optional = deps),
            );
        }
        let mut cache_ttl = Duration::from_secs(600);
        if let Some(raw) = &args.cache_ttl {
            check("CACHE_TTL", parse_duration(raw).map(|d| cache_ttl = d));
        }
        let mut cache_max_entries = 20_000u64;
        if let Some(raw) = &args.cache_max_entries {
            check(
                "CACHE_MAX_ENTRIES",
                parse_positive(raw).map(|n| cache_max_entries = u64::from(n)),
            );
        }
        let mut seed_demo_catalog = true;
        if let Some(raw) = &args.seed_demo_catalog {
            check(
                "SEED_DEMO_CATALOG",
                parse_bool(raw).map(|b| seed_demo_catalog = b),
            );
        }
        // JSON lines wherever logs are collected (containers, files); readable at a terminal.
        let mut log_format = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        };
        if let Some(raw) = &args.log_format {
            check(
                "LOG_FORMAT",
                match raw.trim().to_ascii_lowercase().as_str() {
                    "json" => {
                        log_format = LogFormat::Json;
                        Ok(())
                    }
                    "pretty" | "text" => {
                        log_format = LogFormat::Pretty;
                        Ok(())
                    }
                    _ => Err(format!("{raw:?} is not one of pretty, json")),
                },
            );
        }
        let mongo_uri = either(&args.mongo_uri, "MONGODB_URI");
        if let Some(uri) = &mongo_uri
            && !(uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://"))
        {
            check(
                "MONGO_URI",
                Err("must start with mongodb:// or mongodb+srv://".to_owned()),
            );
        }
        let mail_from = args
            .mail_from
            .clone()
            .unwrap_or_else(|| "orderflow <orders@orderflow.local>".to_owned());
        let mail_dir = args
            .mail_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("mail"));
        let mut worker = WorkerSettings::default();
        if let Some(raw) = &args.worker_concurrency {
            check(
                "WORKER_CONCURRENCY",
                parse_positive(raw).map(|n| worker.concurrency = n as usize),
            );
        }
        if let Some(raw) = &args.worker_visibility_timeout {
            check(
                "WORKER_VISIBILITY_TIMEOUT",
                parse_duration(raw).map(|d| worker.visibility = d),
            );
        }
        if let Some(raw) = &args.worker_retry_delay {
            check(
                "WORKER_RETRY_DELAY",
                parse_duration(raw).map(|d| worker.retry_base = d),
            );
        }
        if let Some(raw) = &args.worker_shutdown_deadline {
            check(
                "WORKER_SHUTDOWN_DEADLINE",
                parse_duration(raw).map(|d| worker.shutdown_deadline = d),
            );
        }
        let mut email = EmailPolicy::default();
        if let Some(raw) = &args.email_max_attempts {
            check(
                "EMAIL_MAX_ATTEMPTS",
                parse_positive(raw).map(|n| email.max_attempts = n),
            );
        }
        if let Some(raw) = &args.email_retry_delay {
            check(
                "EMAIL_RETRY_DELAY",
                parse_duration(raw).map(|d| email.retry_base = d),
            );
        }
        if let Some(raw) = &args.email_lease {
            check("EMAIL_LEASE", parse_duration(raw).map(|d| email.lease = d));
        }
        let mut yield_to_requests = Some(YieldToRequests::default());
        if let Some(raw) = &args.background_yield_at_requests {
            check(
                "BACKGROUND_YIELD_AT_REQUESTS",
                parse_off_or_positive(raw).map(|n| {
                    yield_to_requests = n.map(|n| YieldToRequests {
                        at_requests: n as usize,
                        ..YieldToRequests::default()
                    });
                }),
            );
        }
        let mut queue_max_receives = 5;
        if let Some(raw) = &args.queue_max_receives {
            check(
                "QUEUE_MAX_RECEIVES",
                parse_positive(raw).map(|n| queue_max_receives = n),
            );
        }
        let mut redis = None;
        let redis_host = either(&args.redis_host, "REDIS_HOST");
        if let Some(url) = either(&args.redis_url, "REDIS_URL") {
            let url = url.trim().to_owned();
            if url.starts_with("redis://") || url.starts_with("rediss://") {
                redis = Some(RedisSettings::new(url));
            } else {
                check(
                    "REDIS_URL",
                    Err("must start with redis:// or rediss:// (TLS)".to_owned()),
                );
            }
        } else if let Some(host) = redis_host {
            let mut port = 6379u16;
            if let Some(raw) = &args.redis_port {
                check(
                    "REDIS_PORT",
                    raw.trim()
                        .parse()
                        .map(|p| port = p)
                        .map_err(|_| format!("{raw:?} is not a port number")),
                );
            }
            let auth = args
                .redis_password
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(|password| format!(":{}@", percent_encode(password)))
                .unwrap_or_default();
            redis = Some(RedisSettings::new(format!(
                "redis://{auth}{}:{port}",
                host.trim()
            )));
        }
        if let (Some(redis), Some(prefix)) = (&mut redis, &args.redis_key_prefix) {
            redis.key_prefix = prefix.clone();
        }
        if redis.is_some() {
            api.events_recheck = Duration::from_secs(10);
        }
        if let Some(raw) = &args.sse_recheck_interval {
            check(
                "SSE_RECHECK_INTERVAL",
                parse_duration(raw).map(|d| api.events_recheck = d),
            );
        }
        let sqs_queue_url =
            either(&args.sqs_queue_url, "AWS_SQS_QUEUE_URL").map(|u| u.trim().to_owned());
        if let Some(url) = &sqs_queue_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            check(
                "SQS_QUEUE_URL",
                Err(
                    "must be the queue's URL, https://sqs.<region>.amazonaws.com/<account>/<name>"
                        .to_owned(),
                ),
            );
        }
        if sqs_queue_url.is_some() {
            // Long polling: one receive waits up to 20 s for a message, so an idle worker
            // costs almost no requests.
            worker.wait = Duration::from_secs(20);
        }
        if let Some(raw) = &args.sqs_wait_time {
            check(
                "SQS_WAIT_TIME",
                parse_duration(raw).and_then(|d| {
                    if d <= Duration::from_secs(20) {
                        worker.wait = d;
                        Ok(())
                    } else {
                        Err(format!("{raw:?} is longer than SQS allows (20s)"))
                    }
                }),
            );
        }
        let aws_env = AwsEnv(
            AWS_VARIABLES
                .iter()
                .filter_map(|name| {
                    env(name)
                        .filter(|v| !v.trim().is_empty())
                        .map(|v| ((*name).to_owned(), v))
                })
                .collect(),
        );
        let ses = args
            .ses_sender_email
            .clone()
            .or_else(|| env("AWS_SES_SENDER_EMAIL"))
            .or_else(|| env("SES_EMAIL"))
            .filter(|v| !v.trim().is_empty())
            .map(|from| {
                let mut ses = SesSettings::new(from.trim());
                ses.endpoint_url = env("AWS_ENDPOINT_URL_SESV2").filter(|v| !v.trim().is_empty());
                ses.configuration_set = args
                    .ses_configuration_set
                    .clone()
                    .filter(|s| !s.trim().is_empty());
                ses
            });

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            listen: SocketAddr::new(host, port),
            worker_listen: SocketAddr::new(host, worker_port),
            data_dir,
            mongo_uri,
            jwt_secret,
            access_token_ttl,
            password_hash_threads,
            api,
            cache_ttl,
            cache_max_entries,
            seed_demo_catalog,
            log_format,
            mail_from,
            mail_dir,
            worker,
            email,
            yield_to_requests,
            queue_max_receives,
            redis,
            sqs_queue_url,
            ses,
            aws_env,
        })
    }

    /// What `mode` needs besides what every command does: `api` and `worker` on MongoDB run
    /// beside other replicas, and a secret generated per process would not verify the
    /// tokens another replica signed. Only `serve` generates one (and keeps it in DATA_DIR).
    pub fn problems_for(&self, mode: Mode) -> Vec<String> {
        let mut problems = Vec::new();
        if mode != Mode::Serve && self.mongo_uri.is_some() && self.jwt_secret.is_none() {
            problems.push(format!(
                "JWT_SECRET: required by `orderflow {}` with MONGO_URI: every replica must sign \
                 and verify with the same secret (only `serve` generates one)",
                mode.command()
            ));
        }
        problems
    }
}

/// Browser origins: `scheme://host[:port]`, no path, no wildcard (credentials are allowed,
/// so every origin is named).
fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains(['/', '*', ' ']) => {
                    Ok(origin.to_owned())
                }
                _ => Err(format!(
                    "{origin:?} is not an origin such as https://shop.example.com"
                )),
            }
        })
        .collect()
}

/// `cache`, `queue` or both, comma-separated.
fn parse_optional_dependencies(raw: &str) -> Result<Vec<OptionalDependency>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            OptionalDependency::ALL
                .into_iter()
                .find(|dep| dep.name().eq_ignore_ascii_case(name))
                .ok_or_else(|| format!("{name:?} is not one of cache, queue"))
        })
        .collect()
}

/// `250ms`, `900`, `900s`, `15m`, `1h` or `7d`.
fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let millis_per_unit = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if n > 0 && millis_per_unit > 0 => {
            Ok(Duration::from_millis(n.saturating_mul(millis_per_unit)))
        }
        _ => Err(format!(
            "{raw:?} is not a duration such as 250ms, 900s, 15m, 1h or 7d"
        )),
    }
}

/// Userinfo characters that must be escaped inside a URL.
fn percent_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn parse_positive(raw: &str) -> Result<u32, String> {
    match raw.trim().parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{raw:?} is not a positive whole number")),
    }
}

/// A positive whole number, or `off` (None).
fn parse_off_or_positive(raw: &str) -> Result<Option<u32>, String> {
    if raw.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    parse_positive(raw)
        .map(Some)
        .map_err(|_| format!("{raw:?} is neither a positive whole number nor off"))
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{raw:?} is not true or false")),
    }
}

fn parse_networks(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an IP address or CIDR"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The variables in the first column of `docs/CONFIGURATION.md`'s tables.
    fn documented_variables() -> std::collections::BTreeSet<String> {
        include_str!("../../../docs/CONFIGURATION.md")
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|row| row.split(" |").next())
            .flat_map(|cell| cell.split('`'))
            .filter(|word| {
                !word.is_empty()
                    && word
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .map(str::to_owned)
            .collect()
    }

    /// `docs/CONFIGURATION.md` names every variable the binary reads (flags with an `env`,
    /// aliases read by name, the AWS SDK's), and nothing else, so it cannot fall behind the
    /// code unnoticed.
    #[test]
    fn the_configuration_page_names_every_variable_and_no_other() {
        let mut read: std::collections::BTreeSet<String> = [
            RunArgs::augment_args(clap::Command::new("run")),
            crate::controller::ControllerArgs::augment_args(clap::Command::new("controller")),
        ]
        .iter()
        .flat_map(|command| command.get_arguments())
        .filter_map(|argument| argument.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
        // Aliases and other variables this file reads by name, through `env` or `either`.
        let source = include_str!("config.rs");
        let source = &source[..source.find("#[cfg(test)]").unwrap_or(source.len())];
        let named = |call: &'static str| {
            source
                .split(call)
                .skip(1)
                .filter_map(|rest| rest.split('"').nth(1))
                .filter(|name| {
                    name.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        read.extend(named("env("));
        read.extend(named("either("));
        read.extend(AWS_VARIABLES.iter().map(|name| (*name).to_owned()));
        let documented = documented_variables();
        let undocumented: Vec<_> = read.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "not in docs/CONFIGURATION.md: {undocumented:?}"
        );
        // The SDKs' own families, named as such, are read by the SDKs.
        let unknown: Vec<_> = documented
            .difference(&read)
            .filter(|name| !["RUST_LOG", "OTEL_EXPORTER_OTLP_ENDPOINT"].contains(&name.as_str()))
            .collect();
        assert!(unknown.is_empty(), "documented but never read: {unknown:?}");
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn nothing_configured_is_a_valid_default() {
        let settings = Settings::load_from(&RunArgs::default(), no_env).expect("valid");
        assert_eq!(settings.listen.port(), 8080);
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
        assert!(settings.jwt_secret.is_none());
        assert_eq!(settings.access_token_ttl, Duration::from_secs(900));
        assert_eq!(settings.api.body_limit_bytes, 65_536);
    }

    #[test]
    fn every_problem_is_reported_by_variable_name() {
        let args = RunArgs {
            port: Some("eighty".into()),
            jwt_secret: Some("short".into()),
            access_token_ttl: Some("soon".into()),
            trusted_proxies: Some("10.0.0.0/8, nonsense".into()),
            ..RunArgs::default()
        };
        let problems = Settings::load_from(&args, |name| {
            (name == "REDIS_URL").then(|| "cache:6379".to_owned())
        })
        .expect_err("invalid");
        let named: Vec<_> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            named,
            [
                "PORT",
                "JWT_SECRET",
                "ACCESS_TOKEN_TTL",
                "TRUSTED_PROXIES",
                "REDIS_URL"
            ]
        );
        assert!(
            problems.iter().all(|p| !p.contains("short\"")),
            "secrets are not echoed"
        );
    }

    #[test]
    fn rate_limit_windows_and_optional_readiness_are_configurable() {
        let args = RunArgs {
            auth_rate_limit_window: Some("2s".into()),
            login_failure_window: Some("5m".into()),
            readiness_optional: Some("cache, Queue".into()),
            ..RunArgs::default()
        };
        let settings = Settings::load_from(&args, no_env).expect("valid");
        assert_eq!(
            settings.api.rate_limits.per_ip.window,
            Duration::from_secs(2)
        );
        assert_eq!(
            settings.api.rate_limits.failed_logins_per_email.window,
            Duration::from_secs(300)
        );
        assert_eq!(
            settings.api.readiness_optional,
            [OptionalDependency::Cache, OptionalDependency::Queue]
        );

        let args = RunArgs {
            readiness_optional: Some("store".into()),
            ..RunArgs::default()
        };
        let problems = Settings::load_from(&args, no_env).expect_err("the store is required");
        assert_eq!(
            problems,
            [r#"READINESS_OPTIONAL: "store" is not one of cache, queue"#]
        );
    }

    #[test]
    fn password_hash_threads_are_optional_and_must_be_positive() {
        let settings = Settings::load_from(&RunArgs::default(), no_env).expect("valid");
        assert_eq!(settings.password_hash_threads, None);
        let args = RunArgs {
            password_hash_threads: Some("4".into()),
            ..RunArgs::default()
        };
        let settings = Settings::load_from(&args, no_env).expect("valid");
        assert_eq!(settings.password_hash_threads, Some(4));
        let args = RunArgs {
            password_hash_threads: Some("0".into()),
            ..RunArgs::default()
        };
        let problems = Settings::load_from(&args, no_env).expect_err("zero threads");
        assert_eq!(
            problems,
            [r#"PASSWORD_HASH_THREADS: "0" is not a positive whole number"#]
        );
    }

    #[test]
    fn background_work_yields_to_requests_unless_told_not_to() {
        let settings = Settings::load_from(&RunArgs::default(), no_env).expect("valid");
        assert_eq!(settings.yield_to_requests, Some(YieldToRequests::default()));
        let with = |raw: &str| {
            let args = RunArgs {
                background_yield_at_requests: Some(raw.into()),
                ..RunArgs::default()
            };
            Settings::load_from(&args, no_env)
        };
        let settings = with("32").expect("valid");
        assert_eq!(settings.yield_to_requests.map(|y| y.at_requests), Some(32));
        assert_eq!(with("OFF").expect("valid").yield_to_requests, None);
        assert_eq!(
            with("0").expect_err("zero requests"),
            [r#"BACKGROUND_YIELD_AT_REQUESTS: "0" is neither a positive whole number nor off"#]
        );
    }

    #[test]
    fn node_variable_names_are_aliases() {
        let secret = "s".repeat(40);
        let settings = Settings::load_from(&RunArgs::default(), |name| match name {
            "JWT_PRIVATE_KEY" => Some(secret.clone()),
            "JWT_EXPIRES_IN" => Some("1h".into()),
            _ => None,
        })
        .expect("valid");
        assert!(settings.jwt_secret.is_some());
        assert_eq!(settings.access_token_ttl, Duration::from_secs(3600));
    }

    #[test]
    fn backends_are_selected_by_their_variables_and_the_node_names() {
        let settings = Settings::load_from(&RunArgs::default(), no_env).expect("valid");
        assert!(settings.redis.is_none() && settings.sqs_queue_url.is_none());
        assert!(settings.ses.is_none());
        assert_eq!(
            settings.worker.wait,
            Duration::from_secs(5),
            "embedded queue"
        );

        let args = RunArgs {
            redis_port: Some("6380".into()),
            redis_password: Some("p@ss word".into()),
            ..RunArgs::default()
        };
        let settings = Settings::load_from(&args, |name| match name {
            "REDIS_HOST" => Some("cache.internal".into()),
            "AWS_SQS_QUEUE_URL" => {
                Some("https://sqs.eu-west-1.amazonaws.com/123456789012/orders".into())
            }
            "SES_EMAIL" => Some("orders@shop.example".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(
            settings.redis.map(|r| r.url).as_deref(),
            Some("redis://:p%40ss%20word@cache.internal:6380")
        );
        assert_eq!(
            settings.sqs_queue_url.as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/123456789012/orders")
        );
        assert_eq!(
            settings.worker.wait,
            Duration::from_secs(20),
            "long polling"
        );
        assert_eq!(
            settings.ses.map(|s| s.from).as_deref(),
            Some("orders@shop.example")
        );
    }

    #[test]
    fn long_polls_longer_than_sqs_allows_are_refused() {
        let args = RunArgs {
            sqs_wait_time: Some("30s".into()),
            ..RunArgs::default()
        };
        let problems = Settings::load_from(&args, no_env).expect_err("invalid");
        assert!(problems[0].starts_with("SQS_WAIT_TIME"), "{problems:?}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5w").is_err());
    }
}
