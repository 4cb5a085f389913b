use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use orderflow::config::{RunArgs, Settings};
use orderflow::run::{Backends, Mode, Running};
use orderflow_core::ports::{AcceptAll, OrderProcessor};
use orderflow_core::{Currency, Money, Product, ProductId, ProductName};
use orderflow_worker::CancellationToken;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

pub use orderflow_testkit::wait::eventually;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const PASSWORD: &str = "Tr0ub4dor&3 horse staple";

/// Text that must never appear in any response.
const NEVER_IN_A_RESPONSE: &[&str] = &[
    JWT_SECRET,
    PASSWORD,
    "$argon2",
    "passwordHash",
    "password_hash",
    "sqlite",
    "rusqlite",
    "panicked",
    "stack backtrace",
];

/// An HTTP client for one orderflow API, in this process or another. Every response is
/// checked for leaked secrets.
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

/// The application under test, in this process, with its backends at hand.
pub struct TestApp {
    pub http: Http,
    pub backends: Backends,
    pub settings: Settings,
    /// Dropping it aborts the services, so it lives as long as the app.
    _running: Running,
    dir: TempDir,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Response {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and, for errors, that the body is a problem document for it.
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        if status >= 400 {
            assert_eq!(
                self.header("content-type"),
                Some("application/problem+json"),
                "errors are problem+json: {}",
                self.text
            );
            let problem = self.json();
            assert_eq!(problem["status"], status, "{problem}");
            assert!(
                problem["type"]
                    .as_str()
                    .unwrap()
                    .starts_with("https://orderflow.dev/problems/")
            );
            assert!(problem["title"].is_string());
        }
        self
    }

    /// The `field`s named in a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The API and outbox relay, as `orderflow api` runs them: orders stay PENDING.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut RunArgs)) -> TestApp {
    spawn(Mode::Api, Arc::new(AcceptAll), &[], configure).await
}

/// Everything `orderflow serve` runs, the worker with `processor`.
pub async fn spawn_serve(
    processor: Arc<dyn OrderProcessor>,
    configure: impl FnOnce(&mut RunArgs),
) -> TestApp {
    spawn(Mode::Serve, processor, &[], configure).await
}

/// As [`spawn_serve`], with `env` as the environment variables that are not flags (AWS_*).
pub async fn spawn_serve_with_env(
    processor: Arc<dyn OrderProcessor>,
    env: &[(String, String)],
    configure: impl FnOnce(&mut RunArgs),
) -> TestApp {
    spawn(Mode::Serve, processor, env, configure).await
}

/// Which store the tests run on: SQLite unless `ORDERFLOW_TEST_STORE=mongo`.
pub fn test_mongo_uri() -> Option<String> {
    match std::env::var("ORDERFLOW_TEST_STORE").as_deref() {
        Err(_) | Ok("sqlite") => None,
        Ok("mongo") => Some(orderflow_testkit::services::fresh_mongo_uri("http")),
        Ok(other) => panic!("ORDERFLOW_TEST_STORE={other:?}: expected sqlite or mongo"),
    }
}

pub fn settings_for(data_dir: &Path, configure: impl FnOnce(&mut RunArgs)) -> Settings {
    settings_with_env(data_dir, &[], configure)
}

/// As [`settings_for`], with `env` as the environment variables that are not flags (AWS_*).
pub fn settings_with_env(
    data_dir: &Path,
    env: &[(String, String)],
    configure: impl FnOnce(&mut RunArgs),
) -> Settings {
    let mut args = RunArgs {
        mongo_uri: test_mongo_uri(),
        host: Some("127.0.0.1".into()),
        port: Some("0".into()),
        data_dir: Some(data_dir.to_owned()),
        jwt_secret: Some(JWT_SECRET.into()),
        seed_demo_catalog: Some("false".into()),
        worker_retry_delay: Some("50ms".into()),
        worker_metrics_port: Some("0".into()),
        ..RunArgs::default()
    };
    configure(&mut args);
    Settings::load_from(&args, |name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .unwrap()
}

async fn spawn(
    mode: Mode,
    processor: Arc<dyn OrderProcessor>,
    env: &[(String, String)],
    configure: impl FnOnce(&mut RunArgs),
) -> TestApp {
    if std::env::var_os("RUST_LOG").is_some() {
        // Logs of the app under test, shown with the output of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_with_env(dir.path(), env, configure);
    let backends = Backends::open(&settings).await.unwrap();
    let running = orderflow::run::start(
        mode,
        &settings,
        &backends,
        processor,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let address = running.api.expect("the API runs in this mode");
    TestApp {
        http: Http::new(&format!("http://{address}")),
        backends,
        settings,
        _running: running,
        dir,
    }
}

impl TestApp {
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.settings.mail_dir.clone()
    }

    /// Starts a worker in this process on the app's backends (queue, store, mail, broadcast).
    pub async fn start_worker(&self, processor: Arc<dyn OrderProcessor>) -> Running {
        orderflow::run::start(
            Mode::Worker,
            &self.settings,
            &self.backends,
            processor,
            CancellationToken::new(),
        )
        .await
        .unwrap()
    }

    /// Waits until at least `count` emails have been written; returns them all.
    pub async fn wait_for_emails(&self, count: usize) -> Vec<String> {
        self.wait_for_emails_within(count, Duration::from_secs(120))
            .await
    }

    /// As [`Self::wait_for_emails`], failing after `within`.
    pub async fn wait_for_emails_within(&self, count: usize, within: Duration) -> Vec<String> {
        eventually(within, "the emails to be written", || async {
            let emails = self.emails();
            (emails.len() >= count).then_some(emails)
        })
        .await
    }

    /// Waits until every outbox entry is published to the queue.
    pub async fn wait_until_published(&self) {
        eventually(
            Duration::from_secs(30),
            "the outbox to be published",
            || async {
                let backlog = self.backends.store.outbox_backlog().await.unwrap();
                (backlog == 0).then_some(())
            },
        )
        .await
    }

    /// Waits until the outbox is published and the queue has nothing visible or in flight.
    pub async fn wait_until_drained(&self) {
        eventually(
            Duration::from_secs(30),
            "the outbox and queue to drain",
            || async {
                let backlog = self.backends.store.outbox_backlog().await.unwrap();
                let depth = self.backends.queue.depth().await.unwrap();
                (backlog == 0 && depth.visible + depth.in_flight == 0).then_some(())
            },
        )
        .await
    }

    /// Waits until every recorded email is settled (sent, rejected or given up).
    pub async fn wait_until_emails_settled(&self) {
        eventually(
            Duration::from_secs(60),
            "every recorded email to be settled",
            || async {
                let backlog = self.backends.store.email_backlog().await.unwrap();
                (backlog == 0).then_some(())
            },
        )
        .await
    }

    /// The `.eml` files written so far, by file name.
    pub fn emails(&self) -> Vec<String> {
        emails_in(&self.mail_dir())
    }

    pub async fn seed(&self, products: &[(&str, i64, u32)]) {
        let products: Vec<Product> = products
            .iter()
            .map(|(id, price, stock)| Product {
                id: ProductId::parse(id).unwrap(),
                name: ProductName::parse(&format!("Product {id}")).unwrap(),
                unit_price: Money::new(*price, Currency::USD).unwrap(),
                stock: *stock,
            })
            .collect();
        self.seed_products(&products).await;
    }

    /// Writes `products` to the store directly, as a seeding Job would.
    pub async fn seed_products(&self, products: &[Product]) {
        self.backends.store.upsert_products(products).await.unwrap();
    }
}

impl Http {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// Polls the order until it has `status`.
    pub async fn wait_for_status(&self, token: &str, id: &str, status: &str) -> Value {
        eventually(
            Duration::from_secs(60),
            &format!("order {id} to be {status}"),
            || async {
                let order = self
                    .get(&format!("/api/orders/{id}"), Some(token))
                    .await
                    .expect(200)
                    .json();
                (order["status"] == status).then_some(order)
            },
        )
        .await
    }

    /// Opens an order's server-sent event stream: 200, `text/event-stream`.
    pub async fn open_events(&self, token: &str, id: &str) -> reqwest::Response {
        let response = self
            .request(Method::GET, &format!("/api/orders/{id}/events"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        response
    }

    /// Reads an order's server-sent event stream until the server closes it; returns each
    /// `status` event's data.
    pub async fn status_events(&self, token: &str, id: &str) -> Vec<Value> {
        let mut response = self.open_events(token, id).await;
        let mut text = String::new();
        let read_all = async {
            while let Some(chunk) = response.chunk().await.unwrap() {
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        tokio::time::timeout(Duration::from_secs(60), read_all)
            .await
            .expect("the stream closes after a terminal status");
        text.split("\n\n")
            .filter(|block| block.lines().any(|l| l == "event: status"))
            .map(|block| {
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap();
                serde_json::from_str(data).unwrap()
            })
            .collect()
    }

    /// Waits until the API answers `/readyz`.
    pub async fn wait_until_up(&self) {
        eventually(Duration::from_secs(30), "the API to come up", || async {
            self.client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .ok()
                .map(|_| ())
        })
        .await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Response {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        // The metrics name the store's system on purpose (`system="sqlite"`), nothing else.
        let checked = text.replace(r#"system="sqlite""#, "");
        for forbidden in NEVER_IN_A_RESPONSE {
            assert!(
                !checked.to_lowercase().contains(&forbidden.to_lowercase()),
                "a response leaked {forbidden:?}: {}",
                text.chars().take(500).collect::<String>()
            );
        }
        Response {
            status,
            headers,
            text,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.request(Method::GET, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// The sum of the samples of `family`'s series whose labels include `labels` (`""` for
    /// all, and for a family without labels), from `GET /metrics`.
    pub async fn metric_sum(&self, family: &str, labels: &str) -> f64 {
        let metrics = self.get("/metrics", None).await.expect(200).text;
        metrics
            .lines()
            .filter(|line| {
                let series = line.strip_prefix(family).unwrap_or_default();
                (series.starts_with('{') || series.starts_with(' ')) && series.contains(labels)
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        let mut request = self.request(Method::POST, path).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    pub async fn register(&self, email: &str) -> Response {
        self.post(
            "/api/auth/register",
            None,
            &json!({ "name": "Test User", "email": email, "password": PASSWORD }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/auth/login",
            None,
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Registers `email` and logs in; returns the access token.
    pub async fn user(&self, email: &str) -> String {
        self.register(email).await.expect(201);
        let session = self.login(email, PASSWORD).await.expect(200).json();
        session["accessToken"].as_str().unwrap().to_owned()
    }

    pub async fn stock(&self, id: &str) -> u32 {
        let response = self
            .get(&format!("/api/inventory/{id}"), None)
            .await
            .expect(200);
        response.json()["stock"].as_u64().unwrap() as u32
    }

    /// Places one line of `quantity` × `product` (201 expected); returns the order's id.
    pub async fn place_one(&self, token: &str, product: &str, quantity: u32) -> String {
        let order = self
            .place(
                token,
                json!([{ "productId": product, "quantity": quantity }]),
            )
            .await
            .expect(201)
            .json();
        order["id"].as_str().unwrap().to_owned()
    }

    pub async fn place(&self, token: &str, items: Value) -> Response {
        self.post("/api/orders", Some(token), &json!({ "items": items }))
            .await
    }

    /// Places `count` one-unit orders of `product`, twenty at a time; returns their ids.
    pub async fn place_many(&self, token: &str, product: &str, count: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(count);
        while ids.len() < count {
            let batch = (count - ids.len()).min(20);
            let placements = (0..batch).map(|_| self.place_one(token, product, 1));
            ids.extend(futures::future::join_all(placements).await);
        }
        ids
    }
}

impl std::ops::Deref for TestApp {
    type Target = Http;

    fn deref(&self) -> &Http {
        &self.http
    }
}

pub fn emails_in(dir: &Path) -> Vec<String> {
    files_in(dir, "eml")
        .iter()
        .filter_map(|path| path.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

/// The files of `dir` whose names end in `.{extension}`, sorted; none if it cannot be read.
fn files_in(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == extension))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// `orderflow` as built for these tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_orderflow");

/// Sends SIGTERM and expects the process to exit 0 within `within`.
pub fn terminate_and_expect_clean_exit(mut child: std::process::Child, within: Duration) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success(), "exited with {exit:?}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `orderflow <command>` on `data_dir` with `env` added to a clean environment
/// (listening on `port` when given); its log goes to `log_name` in `data_dir`.
pub fn start_process(
    command: &str,
    data_dir: &Path,
    env: &[(String, String)],
    port: Option<u16>,
    log_name: &str,
) -> std::process::Child {
    let log = std::fs::File::create(data_dir.join(log_name)).unwrap();
    let mut process = std::process::Command::new(BINARY);
    process
        .arg(command)
        .env_clear()
        .env("DATA_DIR", data_dir)
        .env("JWT_SECRET", JWT_SECRET)
        .env("WORKER_VISIBILITY_TIMEOUT", "2s")
        .env("WORKER_RETRY_DELAY", "100ms")
        .env("RUST_LOG", "info")
        .env("WORKER_METRICS_PORT", "0")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(log);
    if let Some(port) = port {
        process
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1");
    }
    process.spawn().unwrap()
}

/// Prints the end of every `.log` file in a directory when the test fails: what the
/// processes started there said would otherwise go with the directory.
pub struct ShowLogsOnFailure(PathBuf);

impl ShowLogsOnFailure {
    pub fn of(dir: &Path) -> Self {
        Self(dir.to_owned())
    }
}

impl Drop for ShowLogsOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            show_logs(&self.0);
        }
    }
}

/// Lines shown of each log: its last warnings and errors, then its last lines.
const LOG_PROBLEMS: usize = 30;
const LOG_TAIL: usize = 5;

fn show_logs(dir: &Path) {
    for log in files_in(dir, "log") {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        // The processes log JSON lines, the default format.
        let problems: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|line| !line.contains(r#""level":"INFO""#))
            .collect();
        let problems = match &problems[problems.len().saturating_sub(LOG_PROBLEMS)..] {
            [] => "(none)".to_owned(),
            last => last.join("\n"),
        };
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
        eprintln!(
            "--- {} ({} lines): its last warnings and errors ---\n{}\n--- and its last lines ---\n{}",
            log.display(),
            lines.len(),
            problems,
            tail.join("\n")
        );
    }
}

/// An email address no other test uses (the shared test servers keep every test's data).
pub fn unique_email(name: &str) -> String {
    format!("{name}-{}@example.com", uuid::Uuid::now_v7().simple())
}

/// `promtool check metrics` on a scrape: it must pass and find nothing to complain about
/// (naming, units, help texts).
pub fn promtool_check_metrics(exposition: &str) {
    use std::io::Write;
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (scripts/test-services.sh installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && complaints.trim().is_empty(),
        "promtool check metrics: {complaints}"
    );
}
