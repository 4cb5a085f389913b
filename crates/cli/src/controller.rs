//! `orderflow controller` and `orderflow crd`: the Kubernetes controller with its health and
//! metrics endpoints, and the CRD it serves.
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use clap::Args;
use orderflow_controller::{ControllerSettings, Leading, LeaseSettings, Metrics, SeedDefaults};
use orderflow_worker::CancellationToken;

const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

#[derive(Debug, Clone, Args)]
pub struct ControllerArgs {
    /// Port of /healthz, /readyz and /metrics.
    #[arg(long, env = "CONTROLLER_PORT", default_value_t = 8081)]
    pub port: u16,
    /// Image the seeding Jobs run when an InventorySeed names none.
    #[arg(long, env = "SEED_IMAGE")]
    pub seed_image: Option<String>,
    /// ConfigMap of store settings every seeding Job reads (the release's), if present.
    #[arg(long, env = "SEED_CONFIG_MAP")]
    pub seed_config_map: Option<String>,
    /// Secret of store settings every seeding Job reads (the release's), if present.
    #[arg(long, env = "SEED_SECRET")]
    pub seed_secret: Option<String>,
    /// Watch only this namespace (default: every namespace).
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Name of the leader-election Lease.
    #[arg(long, env = "LEASE_NAME", default_value = "orderflow-controller")]
    pub lease_name: String,
    /// Namespace of the Lease (default: the pod's own namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,
    /// This replica's identity in the Lease (default: the host name).
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Seconds a Lease lasts without renewal.
    #[arg(long, env = "LEASE_DURATION_SECONDS", default_value_t = 15)]
    pub lease_duration_seconds: u64,
    /// Log format: pretty or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "json")]
    pub log_format: String,
}

impl ControllerArgs {
    fn settings(&self) -> ControllerSettings {
        let namespace = self
            .pod_namespace
            .clone()
            .or_else(|| {
                std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
                    .ok()
                    .map(|s| s.trim().to_owned())
            })
            .unwrap_or_else(|| "default".to_owned());
        let identity = self.pod_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| format!("orderflow-controller-{}", std::process::id()))
        });
        ControllerSettings {
            namespace: self.watch_namespace.clone(),
            seed: SeedDefaults {
                image: self.seed_image.clone(),
                config_map: self.seed_config_map.clone(),
                secret: self.seed_secret.clone(),
            },
            lease: LeaseSettings {
                name: self.lease_name.clone(),
                namespace,
                identity,
                duration: Duration::from_secs(self.lease_duration_seconds.max(3)),
            },
        }
    }
}

#[derive(Clone)]
struct Probe {
    metrics: Metrics,
    leading: Leading,
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready once running, leader or standby: a standby must pass readiness for a rolling
/// update to proceed. The body says which it is.
async fn readyz(State(probe): State<Probe>) -> String {
    let role = if probe.leading.get() {
        "leader"
    } else {
        "standby"
    };
    format!("{{\"status\":\"ok\",\"role\":\"{role}\"}}")
}

async fn serve_metrics(State(probe): State<Probe>) -> impl IntoResponse {
    orderflow_telemetry::exposition(&probe.metrics.registry)
}

/// Runs the controller until `shutdown`; its probe and metrics server alongside.
pub async fn run(
    args: &ControllerArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes configuration (in-cluster service account or KUBECONFIG)")?;
    let metrics = Metrics::new().context("registering the controller's metrics")?;
    let leading = Leading::default();
    let stop = CancellationToken::new();
    let address = SocketAddr::from(([0, 0, 0, 0], args.port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(serve_metrics))
        .with_state(Probe {
            metrics: metrics.clone(),
            leading: leading.clone(),
        });
    let server_stop = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { server_stop.cancelled().await })
            .await
    });
    let on_signal = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_signal.cancel();
    });
    let result =
        orderflow_controller::run(client, args.settings(), metrics, leading, stop.clone()).await;
    stop.cancel();
    server.await.context("the probe server panicked")??;
    result?;
    Ok(())
}

/// `orderflow crd`: the CustomResourceDefinition YAML.
pub fn print_crd() -> anyhow::Result<()> {
    print!("{}", orderflow_controller::manifest::crd_yaml()?);
    Ok(())
}
