//! Running the controller: leader election, then the watch-and-reconcile loop over
//! InventorySeeds and the Jobs they own, until shutdown or lost leadership.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use crate::crd::InventorySeed;
use crate::job::SeedDefaults;
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

/// Campaigns for the lease, then reconciles while holding it. Returns when `shutdown` is
/// cancelled, or with an error when the lease is lost.
pub async fn run(
    client: Client,
    settings: ControllerSettings,
    metrics: Metrics,
    leading: Leading,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let lock = LeaseLock::new(client.clone(), settings.lease.clone());
    loop {
        match lock.try_acquire_or_renew().await {
            Ok(true) => break,
            Ok(false) => tracing::debug!("another replica leads; waiting"),
            Err(e) => tracing::warn!(error = %e, "leader election failed; retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(lock.renew_every()) => {}
        }
    }
    leading.set(true);
    tracing::info!(identity = %settings.lease.identity, "leading; reconciling InventorySeeds");

    let lost = CancellationToken::new();
    let renewing = {
        let lost = lost.clone();
        let shutdown = shutdown.clone();
        let leading = leading.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(lock.renew_every()) => {}
                }
                match lock.try_acquire_or_renew().await {
                    Ok(true) => {}
                    Ok(false) => {
                        leading.set(false);
                        lost.cancel();
                        return;
                    }
                    // One failed renewal is not yet a lost lease; it lasts three periods.
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
                }
            }
        })
    };

    let (seeds, jobs): (Api<InventorySeed>, Api<Job>) = match &settings.namespace {
        Some(namespace) => (
            Api::namespaced(client.clone(), namespace),
            Api::namespaced(client.clone(), namespace),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
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
    Controller::new(seeds, watcher::Config::default())
        .owns(jobs, watcher::Config::default())
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile loop");
            }
        })
        .await;
    renewing.abort();
    leading.set(false);
    if lost.is_cancelled() && !shutdown.is_cancelled() {
        return Err(RunError::LostLease(settings.lease.name));
    }
    Ok(())
}
