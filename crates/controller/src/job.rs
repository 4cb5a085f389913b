//! What an InventorySeed asks for, as Kubernetes objects: the seeding Job of its current spec
//! and, for an inline catalog, the ConfigMap that carries it. Pure functions of the resource.
use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, ConfigMapVolumeSource, Container, EnvFromSource,
    KeyToPath, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile,
    SecretEnvSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use crate::crd::InventorySeed;

pub const MANAGED_BY: &str = "orderflow-controller";
pub const SEED_LABEL: &str = "orderflow.dev/inventory-seed";
pub const CATALOG_DIR: &str = "/catalog";
/// Changing this annotation's value runs a seed again, with the same spec: each value gets a
/// Job of its own (see [`job_name`]).
pub const RUN_ANNOTATION: &str = "orderflow.dev/run";
/// The key an inline catalog is written under.
pub const INLINE_KEY: &str = "catalog.json";
const DEFAULT_BACKOFF_LIMIT: i32 = 3;
const DEFAULT_TTL_AFTER_FINISHED: i32 = 86_400;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("give exactly one of items and configMapRef")]
    CatalogSource,
    #[error("the resource has no {0}")]
    Missing(&'static str),
    #[error("no image: set spec.image or the controller's seed image")]
    NoImage,
}

/// What the controller's release gives every seeding Job: the image, and the ConfigMap and
/// Secret with the release's store settings, so a seed reaches the release's store without
/// naming them. Optional references: in other namespaces they do not exist, and a seed's own
/// `envFrom`, which comes after them, supplies (or overrides) the settings.
#[derive(Debug, Clone, Default)]
pub struct SeedDefaults {
    pub image: Option<String>,
    pub config_map: Option<String>,
    pub secret: Option<String>,
}

impl SeedDefaults {
    fn env_from(&self) -> impl Iterator<Item = EnvFromSource> {
        let config_map = self.config_map.clone().map(|name| EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name,
                optional: Some(true),
            }),
            ..EnvFromSource::default()
        });
        let secret = self.secret.clone().map(|name| EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name,
                optional: Some(true),
            }),
            ..EnvFromSource::default()
        });
        config_map.into_iter().chain(secret)
    }
}

/// The Job's name: the resource's name and a hash of its spec and of its
/// [`RUN_ANNOTATION`], so each spec (and each run asked for) gets its own Job, once. At most
/// 63 characters.
pub fn job_name(seed: &InventorySeed) -> String {
    let mut hashed = serde_json::to_vec(&seed.spec).unwrap_or_default();
    if let Some(run) = seed.annotations().get(RUN_ANNOTATION) {
        hashed.push(b'\n');
        hashed.extend_from_slice(run.as_bytes());
    }
    let digest = Sha256::digest(&hashed);
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let name = seed.name_any();
    let prefix = name.get(..54).unwrap_or(&name).trim_end_matches(['-', '.']);
    format!("{prefix}-{hash}")
}

fn owner_reference(seed: &InventorySeed) -> Result<OwnerReference, SpecError> {
    seed.controller_owner_ref(&())
        .ok_or(SpecError::Missing("uid"))
}

fn labels(seed: &InventorySeed) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/name".to_owned(),
            "orderflow-seed".to_owned(),
        ),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGED_BY.to_owned(),
        ),
        (SEED_LABEL.to_owned(), seed.name_any()),
    ])
}

fn metadata(seed: &InventorySeed, name: String) -> Result<ObjectMeta, SpecError> {
    Ok(ObjectMeta {
        name: Some(name),
        namespace: Some(seed.namespace().ok_or(SpecError::Missing("namespace"))?),
        labels: Some(labels(seed)),
        owner_references: Some(vec![owner_reference(seed)?]),
        ..ObjectMeta::default()
    })
}

/// The ConfigMap holding an inline catalog, named like the Job; `None` for a ConfigMap
/// reference.
pub fn inline_catalog(seed: &InventorySeed) -> Result<Option<ConfigMap>, SpecError> {
    let Some(items) = &seed.spec.items else {
        return Ok(None);
    };
    let catalog = serde_json::to_string_pretty(items).unwrap_or_default();
    Ok(Some(ConfigMap {
        metadata: metadata(seed, job_name(seed))?,
        data: Some(BTreeMap::from([(INLINE_KEY.to_owned(), catalog)])),
        ..ConfigMap::default()
    }))
}

/// The Job that runs `orderflow seed` on the catalog.
pub fn seed_job(seed: &InventorySeed, defaults: &SeedDefaults) -> Result<Job, SpecError> {
    let spec = &seed.spec;
    let (config_map, key) = match (&spec.items, &spec.config_map_ref) {
        (Some(_), None) => (job_name(seed), INLINE_KEY.to_owned()),
        (None, Some(reference)) => (reference.name.clone(), reference.key.clone()),
        _ => return Err(SpecError::CatalogSource),
    };
    let image = spec
        .image
        .clone()
        .or_else(|| defaults.image.clone())
        .ok_or(SpecError::NoImage)?;
    let file = format!("{CATALOG_DIR}/{key}");
    let container = Container {
        name: "seed".to_owned(),
        image: Some(image),
        // The service images' entrypoints name their subcommand (`orderflow api`): the Job
        // names the binary itself, found on the image's PATH.
        command: Some(vec!["orderflow".to_owned()]),
        args: Some(
            ["seed", "--file", &file, "--mode", spec.mode.as_flag()]
                .map(str::to_owned)
                .to_vec(),
        ),
        env_from: Some(
            defaults
                .env_from()
                .chain(spec.env_from.iter().cloned())
                .collect::<Vec<_>>(),
        )
        .filter(|e| !e.is_empty()),
        volume_mounts: Some(vec![VolumeMount {
            name: "catalog".to_owned(),
            mount_path: CATALOG_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("50m".to_owned())),
                ("memory".to_owned(), Quantity("64Mi".to_owned())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity("256Mi".to_owned()),
            )])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    };
    let pod = PodSpec {
        restart_policy: Some("Never".to_owned()),
        // `orderflow seed` never calls the Kubernetes API.
        automount_service_account_token: Some(false),
        containers: vec![container],
        volumes: Some(vec![Volume {
            name: "catalog".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map,
                items: Some(vec![KeyToPath {
                    key: key.clone(),
                    path: key,
                    ..KeyToPath::default()
                }]),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        }]),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65_532),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        ..PodSpec::default()
    };
    Ok(Job {
        metadata: metadata(seed, job_name(seed))?,
        spec: Some(JobSpec {
            backoff_limit: Some(spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT)),
            ttl_seconds_after_finished: Some(
                spec.ttl_seconds_after_finished
                    .unwrap_or(DEFAULT_TTL_AFTER_FINISHED),
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(seed)),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    })
}
