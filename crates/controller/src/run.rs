//! Running the controller: leader election, then the watch-and-reconcile loop over
//! InventorySeeds and the Jobs they own, until shutdown or lost leadership.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;

use crate::crd::InventorySeed;
use crate::job::{SEED_LABEL, SeedDefaults};
use crate::lease::{LeaseLock, LeaseSettings};
use crate::metrics::Metrics;
use crate::reconcile::{Context, FIELD_MANAGER, error_policy, reconcile};

#[derive(Debug, Clone)]
pub struct ControllerSettings {
    /// Watch one namespace, or every namespace when `None`.
    pub namespace: Option<String>,
    pub seed: SeedDefaults,
    pub lease: LeaseSettings,
}

/// Whether this replica reconciles (it holds the lease); for `/readyz`.
#[derive(Debug, Clone, Default)]
pub struct Leading(Arc<AtomicBool>);

impl Leading {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, leading: bool) {
        self.0.store(leading, Ordering::Relaxed);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("leader election: {0}")]
    Lease(#[source] kube::Error),
    #[error("lost the leader lease {0}; exiting so that another replica takes over")]
    LostLease(String),
}

/// How often a standby looks at the lease: a released lease is taken within this.
const STANDBY_RETRY: Duration = Duration::from_secs(1);
/// How long reconciles in flight may finish once the lease is lost.
const STEP_DOWN_GRACE: Duration = Duration::from_secs(1);

/// Campaigns for the lease, then reconciles while holding it. Returns when `shutdown` is
/// cancelled, having released the lease, or with an error when the lease is lost.
pub async fn run(
    client: Client,
    settings: ControllerSettings,
    metrics: Metrics,
    leading: Leading,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let lock = Arc::new(LeaseLock::new(client.clone(), settings.lease.clone()));
    loop {
        match tokio::time::timeout(lock.renew_every(), lock.try_acquire_or_renew()).await {
            Ok(Ok(true)) => break,
            Ok(Ok(false)) => tracing::debug!("another replica leads; waiting"),
            Ok(Err(e)) => tracing::warn!(error = %e, "leader election failed; retrying"),
            Err(_) => tracing::warn!("leader election timed out; retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(STANDBY_RETRY) => {}
        }
    }
    leading.set(true);
    tracing::info!(identity = %settings.lease.identity, "leading; reconciling InventorySeeds");

    let lost = CancellationToken::new();
    let renewing = tokio::spawn(hold(Arc::clone(&lock), lost.clone(), shutdown.clone()));

    let (seeds, jobs, pods): (Api<InventorySeed>, Api<Job>, Api<Pod>) = match &settings.namespace {
        Some(namespace) => (
            Api::namespaced(client.clone(), namespace),
            Api::namespaced(client.clone(), namespace),
            Api::namespaced(client.clone(), namespace),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };
    let reporter = Reporter {
        controller: FIELD_MANAGER.to_owned(),
        instance: Some(settings.lease.identity.clone()),
    };
    let context = Arc::new(Context::new(
        client.clone(),
        Recorder::new(client, reporter),
        metrics,
        settings.seed.clone(),
    ));
    let stop = {
        let (shutdown, lost) = (shutdown.clone(), lost.clone());
        async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = lost.cancelled() => {}
            }
        }
    };
    // A seed's pods: their scheduling and image pulls decide Pending or Running.
    let seed_of_pod = |pod: Pod| {
        let seed = pod.labels().get(SEED_LABEL)?;
        Some(ObjectRef::new(seed).within(&pod.namespace()?))
    };
    let controller = Controller::new(seeds, watcher::Config::default())
        .owns(jobs, watcher::Config::default())
        .watches(
            pods,
            watcher::Config::default().labels(SEED_LABEL),
            seed_of_pod,
        )
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile loop");
            }
        });
    // Once the lease is lost, reconciles in flight get a moment, not the time a hung
    // connection to the API server would take.
    tokio::select! {
        () = controller => {}
        () = async {
            lost.cancelled().await;
            tokio::time::sleep(STEP_DOWN_GRACE).await;
        } => {}
    }
    renewing.abort();
    leading.set(false);
    if lost.is_cancelled() && !shutdown.is_cancelled() {
        return Err(RunError::LostLease(settings.lease.name));
    }
    match tokio::time::timeout(lock.renew_every(), lock.release()).await {
        Ok(Ok(())) => tracing::info!("released the leader lease"),
        Ok(Err(e)) => tracing::warn!(error = %e, "could not release the leader lease"),
        Err(_) => tracing::warn!("releasing the leader lease timed out"),
    }
    Ok(())
}

/// Renews the lease every third of its duration. Cancels `lost` when another replica holds
/// it, or when no renewal has succeeded for two thirds of the duration: this replica then
/// stops before the lease expires and another may take it.
async fn hold(lock: Arc<LeaseLock>, lost: CancellationToken, shutdown: CancellationToken) {
    let every = lock.renew_every();
    let step_down_after = lock.duration().saturating_sub(every);
    let mut renewed = Instant::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let attempt = Instant::now();
        let left = step_down_after.saturating_sub(renewed.elapsed());
        match tokio::time::timeout(left.min(every), lock.try_acquire_or_renew()).await {
            Ok(Ok(true)) => renewed = attempt,
            Ok(Ok(false)) => {
                tracing::error!("another replica holds the leader lease; stepping down");
                lost.cancel();
                return;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "lease renewal failed"),
            Err(_) => tracing::warn!("lease renewal timed out"),
        }
        if renewed.elapsed() >= step_down_after {
            tracing::error!(
                since = ?renewed.elapsed(),
                "the leader lease could not be renewed; stepping down before it expires"
            );
            lost.cancel();
            return;
        }
    }
}
