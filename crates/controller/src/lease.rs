//! Leader election on a `coordination.k8s.io` Lease: of several replicas, only the holder
//! reconciles, so two never create Jobs at once. A holder that stops renewing loses the
//! lease once it expires; one that stops cleanly releases it at once. (The lease crates,
//! kube-leader-election and kube-lease-manager, are built on older kube releases.)
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::{Api, Client};

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    /// This replica's name (the pod name).
    pub identity: String,
    /// How long a lease lasts without renewal.
    pub duration: Duration,
}

pub struct LeaseLock {
    api: Api<Lease>,
    settings: LeaseSettings,
}

impl LeaseLock {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
        }
    }

    pub fn renew_every(&self) -> Duration {
        self.settings.duration / 3
    }

    pub fn duration(&self) -> Duration {
        self.settings.duration
    }

    /// Takes the lease if it is free or expired, renews it if held: `true` while this replica
    /// holds it. A lost race (another replica wrote first) is `false`, not an error.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let seconds = i32::try_from(self.settings.duration.as_secs()).unwrap_or(i32::MAX);
        let me = &self.settings.identity;
        let result = match self.api.get_opt(&self.settings.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.settings.name.clone()),
                        namespace: Some(self.settings.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(me.clone()),
                        lease_duration_seconds: Some(seconds),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                let held_by_me = spec.holder_identity.as_deref() == Some(me.as_str());
                let expires = spec.renew_time.as_ref().map(|t| {
                    t.0 + SignedDuration::from_secs(i64::from(
                        spec.lease_duration_seconds.unwrap_or(seconds),
                    ))
                });
                let free = spec.holder_identity.as_deref().is_none_or(str::is_empty)
                    || expires.is_none_or(|at| at < now);
                if !held_by_me && !free {
                    return Ok(false);
                }
                if !held_by_me {
                    spec.holder_identity = Some(me.clone());
                    spec.acquire_time = Some(MicroTime(now));
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
                spec.renew_time = Some(MicroTime(now));
                spec.lease_duration_seconds = Some(seconds);
                // Replace carries the resourceVersion read: a concurrent writer makes it 409.
                self.api
                    .replace(&self.settings.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up if this replica holds it, so that a standby takes it at its next
    /// look instead of when it expires. A concurrent writer (409) has taken it already.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(e) => Err(e),
        }
    }
}
