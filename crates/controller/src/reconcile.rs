//! One reconciliation: make sure the Job of the resource's current spec exists, and report
//! what it did in the resource's status and in Events.
use orderflow_core::backoff::exponential;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client, Resource, ResourceExt};

use crate::crd::{InventorySeed, InventorySeedStatus, Phase};
use crate::job::{self, RUN_ANNOTATION, SeedDefaults, SpecError};
use crate::metrics::Metrics;

/// The field manager of everything this controller applies.
pub const FIELD_MANAGER: &str = "orderflow-controller";
/// The condition that sums up a seed.
pub const SEEDED_CONDITION: &str = "Seeded";
/// How often an unfinished Job is looked at besides the watch events of it and its pods.
const RUNNING_RECHECK: Duration = Duration::from_secs(30);
const RETRY_BASE: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("the InventorySeed has no namespace")]
    NoNamespace,
    #[error(transparent)]
    Spec(#[from] SpecError),
}

impl Error {
    /// A bounded label for metrics.
    fn kind(&self) -> &'static str {
        match self {
            Self::Kube(kube::Error::Api(_)) => "api",
            Self::Kube(_) => "client",
            Self::NoNamespace | Self::Spec(_) => "invalid",
        }
    }
}

/// What every reconciliation shares.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Metrics,
    /// What every seeding Job gets from the release.
    pub seed: SeedDefaults,
    /// Consecutive failures per resource, for the retry backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(client: Client, recorder: Recorder, metrics: Metrics, seed: SeedDefaults) -> Self {
        Self {
            client,
            recorder,
            metrics,
            seed,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn key(seed: &InventorySeed) -> String {
    format!(
        "{}/{}",
        seed.namespace().unwrap_or_default(),
        seed.name_any()
    )
}

pub async fn reconcile(seed: Arc<InventorySeed>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_inner(&seed, &ctx).await;
    ctx.metrics
        .reconciled(started.elapsed(), result.as_ref().err().map(Error::kind));
    if result.is_ok() {
        ctx.failures().remove(&key(&seed));
    }
    result
}

/// Failed reconciliations come back after a delay that doubles per consecutive failure.
pub fn error_policy(seed: Arc<InventorySeed>, error: &Error, ctx: Arc<Context>) -> Action {
    let attempts = {
        let mut failures = ctx.failures();
        let count = failures.entry(key(&seed)).or_insert(0);
        *count = count.saturating_add(1);
        *count
    };
    let delay = exponential(RETRY_BASE, RETRY_MAX, attempts);
    tracing::warn!(seed = %key(&seed), %error, attempts, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

async fn reconcile_inner(seed: &InventorySeed, ctx: &Context) -> Result<Action, Error> {
    // Deleted: its Job and ConfigMap carry it as owner, so Kubernetes collects them.
    if seed.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = seed.namespace().ok_or(Error::NoNamespace)?;
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let desired = match job::seed_job(seed, &ctx.seed) {
        Ok(desired) => desired,
        Err(invalid) => {
            report_invalid(seed, ctx, &invalid).await?;
            return Ok(Action::await_change());
        }
    };
    let name = job::job_name(seed);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let previous = seed.status.clone().unwrap_or_default();
    let (phase, reason, message) = match jobs.get_opt(&name).await? {
        // This run's Job was created and is gone (its TTL, or deleted by hand): a seed runs
        // once per spec and run annotation, so it is not created again.
        None if previous.job_name.as_deref() == Some(name.as_str()) => {
            if previous.phase.is_some_and(Phase::is_finished) {
                return Ok(Action::await_change());
            }
            (
                Phase::Failed,
                "JobDeleted".to_owned(),
                format!(
                    "Job {name} was deleted before it finished; change the annotation \
                     {RUN_ANNOTATION} to run the seed again"
                ),
            )
        }
        None => {
            if let Some(catalog) = job::inline_catalog(seed)? {
                let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
                config_maps
                    .patch(&name, &apply, &Patch::Apply(&catalog))
                    .await?;
            }
            jobs.patch(&name, &apply, &Patch::Apply(&desired)).await?;
            publish(
                seed,
                ctx,
                EventType::Normal,
                "JobCreated",
                format!("created Job {name} for generation {}", generation(seed)),
            )
            .await;
            (
                Phase::Pending,
                "JobCreated".to_owned(),
                format!("Job {name} was created"),
            )
        }
        Some(existing) => match job_phase(&existing) {
            // Active is not running: its pod may wait to be scheduled or for its image.
            (Phase::Running, ..) => {
                let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
                let listed = pods
                    .list(&ListParams::default().labels(&format!("job-name={name}")))
                    .await?;
                pods_phase(&name, &listed.items)
            }
            phase => phase,
        },
    };
    let items_seeded = match phase {
        Phase::Succeeded => Some(count_items(seed, ctx, &namespace).await?),
        _ => None,
    };
    let same_generation = previous.observed_generation == Some(generation(seed));
    let changed_phase = !same_generation || previous.phase != Some(phase);
    if changed_phase && phase.is_finished() {
        let (kind, reason) = match phase {
            Phase::Succeeded => (EventType::Normal, "Seeded"),
            _ => (EventType::Warning, "SeedFailed"),
        };
        publish(seed, ctx, kind, reason, message.clone()).await;
    }
    let status = InventorySeedStatus {
        phase: Some(phase),
        observed_generation: Some(generation(seed)),
        job_name: Some(name),
        items_seeded: items_seeded.or(if same_generation {
            previous.items_seeded.filter(|_| phase == Phase::Succeeded)
        } else {
            None
        }),
        last_seeded_at: match phase {
            Phase::Succeeded if changed_phase => Some(Time(Timestamp::now())),
            _ => previous.last_seeded_at.clone(),
        },
        conditions: vec![condition(
            &previous,
            phase,
            &reason,
            &message,
            generation(seed),
        )],
    };
    if status != previous {
        patch_status(seed, ctx, &namespace, &status).await?;
    }
    Ok(if phase.is_finished() {
        Action::await_change()
    } else {
        Action::requeue(RUNNING_RECHECK)
    })
}

fn generation(seed: &InventorySeed) -> i64 {
    seed.meta().generation.unwrap_or(0)
}

/// The phase a Job is in, with the reason and message the status gives it. An active Job is
/// `Running` here; [`pods_phase`] tells whether its pod really runs.
pub fn job_phase(job: &Job) -> (Phase, String, String) {
    let name = job.name_any();
    let status = job.status.clone().unwrap_or_default();
    let failed = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Failed" && c.status == "True");
    if status.succeeded.unwrap_or(0) > 0 {
        (
            Phase::Succeeded,
            "JobSucceeded".to_owned(),
            format!("Job {name} seeded the catalog"),
        )
    } else if let Some(failed) = failed {
        let why = failed.reason.clone().unwrap_or_else(|| "Failed".to_owned());
        let detail = failed.message.clone().unwrap_or_default();
        (
            Phase::Failed,
            "JobFailed".to_owned(),
            format!("Job {name} failed ({why}): {detail}")
                .trim_end_matches([':', ' '])
                .to_owned(),
        )
    } else if status.active.unwrap_or(0) > 0 {
        (
            Phase::Running,
            "JobRunning".to_owned(),
            format!("Job {name} is running"),
        )
    } else {
        pending(&name)
    }
}

fn pending(job: &str) -> (Phase, String, String) {
    (
        Phase::Pending,
        "JobPending".to_owned(),
        format!("Job {job} is waiting to start"),
    )
}

/// An active Job's phase from its pods: `Running` while one runs; else `Pending`, with the
/// reason a pod gives for waiting when it gives one (its container's, such as
/// `ImagePullBackOff`, or the scheduler's, such as `Unschedulable`).
pub fn pods_phase(job: &str, pods: &[Pod]) -> (Phase, String, String) {
    let statuses = pods
        .iter()
        .filter_map(|pod| Some((pod, pod.status.as_ref()?)));
    let mut waiting = None;
    for (pod, status) in statuses {
        if status.phase.as_deref() == Some("Running") {
            return (
                Phase::Running,
                "JobRunning".to_owned(),
                format!("Job {job} is running"),
            );
        }
        let container = status
            .container_statuses
            .iter()
            .flatten()
            .filter_map(|c| c.state.as_ref()?.waiting.as_ref())
            .find_map(|w| Some((w.reason.clone()?, w.message.clone().unwrap_or_default())));
        let unscheduled = status
            .conditions
            .iter()
            .flatten()
            .filter(|c| c.type_ == "PodScheduled" && c.status == "False")
            .find_map(|c| Some((c.reason.clone()?, c.message.clone().unwrap_or_default())));
        if let Some((reason, message)) = container.or(unscheduled) {
            let pod = pod.name_any();
            let message = format!("Job {job}: pod {pod} is waiting ({reason}): {message}");
            waiting.get_or_insert((reason, message.trim_end_matches([':', ' ']).to_owned()));
        }
    }
    match waiting {
        Some((reason, message)) => (Phase::Pending, reason, message),
        None => pending(job),
    }
}

/// The `Seeded` condition; its transition time moves only when its status does.
fn condition(
    previous: &InventorySeedStatus,
    phase: Phase,
    reason: &str,
    message: &str,
    generation: i64,
) -> Condition {
    let status = match phase {
        Phase::Succeeded => "True",
        Phase::Failed => "False",
        Phase::Pending | Phase::Running => "Unknown",
    };
    let last_transition_time = previous
        .conditions
        .iter()
        .find(|c| c.type_ == SEEDED_CONDITION && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(Timestamp::now()));
    Condition {
        type_: SEEDED_CONDITION.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: Some(generation),
        last_transition_time,
    }
}

/// How many products the catalog holds: inline, or as the seed command read the ConfigMap.
async fn count_items(seed: &InventorySeed, ctx: &Context, namespace: &str) -> Result<i64, Error> {
    if let Some(items) = &seed.spec.items {
        return Ok(i64::try_from(items.len()).unwrap_or(i64::MAX));
    }
    let Some(reference) = &seed.spec.config_map_ref else {
        return Ok(0);
    };
    let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let text = config_maps
        .get_opt(&reference.name)
        .await?
        .and_then(|cm| cm.data)
        .and_then(|mut data| data.remove(&reference.key))
        .unwrap_or_default();
    let rows = orderflow_catalog::parse(&reference.key, &text).unwrap_or_default();
    Ok(i64::try_from(rows.len()).unwrap_or(i64::MAX))
}

async fn report_invalid(
    seed: &InventorySeed,
    ctx: &Context,
    invalid: &SpecError,
) -> Result<(), Error> {
    let namespace = seed.namespace().ok_or(Error::NoNamespace)?;
    let previous = seed.status.clone().unwrap_or_default();
    let message = invalid.to_string();
    let status = InventorySeedStatus {
        phase: Some(Phase::Failed),
        observed_generation: Some(generation(seed)),
        job_name: None,
        items_seeded: None,
        last_seeded_at: previous.last_seeded_at.clone(),
        conditions: vec![condition(
            &previous,
            Phase::Failed,
            "InvalidSpec",
            &message,
            generation(seed),
        )],
    };
    if status != previous {
        publish(seed, ctx, EventType::Warning, "InvalidSpec", message).await;
        patch_status(seed, ctx, &namespace, &status).await?;
    }
    Ok(())
}

async fn patch_status(
    seed: &InventorySeed,
    ctx: &Context,
    namespace: &str,
    status: &InventorySeedStatus,
) -> Result<(), Error> {
    let seeds: Api<InventorySeed> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": InventorySeed::api_version(&()),
        "kind": InventorySeed::kind(&()),
        "status": status,
    });
    seeds
        .patch_status(
            &seed.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    Ok(())
}

/// Events are best effort: failing to record one does not fail the reconciliation.
async fn publish(seed: &InventorySeed, ctx: &Context, kind: EventType, reason: &str, note: String) {
    let event = Event {
        type_: kind,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Seeding".to_owned(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &seed.object_ref(&())).await {
        tracing::warn!(seed = %key(seed), error = %e, "could not record an event");
    }
}
