//! The InventorySeed custom resource: a catalog to load into the inventory, inline or from a
//! ConfigMap, which the controller runs `orderflow seed` on in a Job.
use k8s_openapi::api::core::v1::EnvFromSource;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "orderflow.dev",
    version = "v1alpha1",
    kind = "InventorySeed",
    namespaced,
    status = "InventorySeedStatus",
    shortname = "iseed",
    category = "orderflow",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Items","type":"integer","jsonPath":".status.itemsSeeded"}"#,
    printcolumn = r#"{"name":"Job","type":"string","jsonPath":".status.jobName","priority":1}"#,
    printcolumn = r#"{"name":"Last seeded","type":"date","jsonPath":".status.lastSeededAt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.items) != has(self.configMapRef)",
    "message": "give exactly one of items and configMapRef"
}]))]
pub struct InventorySeedSpec {
    /// Catalog items, inline. Exactly one of `items` and `configMapRef` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1000))]
    pub items: Option<Vec<CatalogItem>>,
    /// A catalog file kept in a ConfigMap: `.yaml`, `.yml`, `.json` or `.csv` by its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigMapCatalog>,
    /// `Upsert` creates or replaces each product; `SetStock` only sets the stock of products
    /// that exist.
    #[serde(default)]
    pub mode: SeedMode,
    /// The orderflow image the Job runs; the controller's configured seed image when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where the Job finds the database settings (MONGO_URI...): Secrets and ConfigMaps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "env_from_schema")]
    pub env_from: Vec<EnvFromSource>,
    /// Retries of the Job's pod before it is failed (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 20))]
    pub backoff_limit: Option<i32>,
    /// Seconds a finished Job is kept before Kubernetes deletes it (default 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
}

/// One product of an inline catalog, as in a catalog file.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub product_id: String,
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    /// Price in minor units (cents).
    #[schemars(range(min = 0))]
    pub unit_price: i64,
    /// ISO 4217 code, e.g. USD.
    #[schemars(regex(pattern = "^[A-Z]{3}$"))]
    pub currency: String,
    #[schemars(range(min = 0))]
    pub stock: i64,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
pub struct ConfigMapCatalog {
    /// The ConfigMap's name, in the InventorySeed's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key holding the catalog; its extension names the format.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[-._A-Za-z0-9]+\.(yaml|yml|json|csv)$")
    )]
    pub key: String,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum SeedMode {
    #[default]
    Upsert,
    SetStock,
}

impl SeedMode {
    /// The `orderflow seed --mode` value.
    pub fn as_flag(self) -> &'static str {
        match self {
            Self::Upsert => "upsert",
            Self::SetStock => "set-stock",
        }
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventorySeedStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "phase_schema")]
    pub phase: Option<Phase>,
    /// The spec generation the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_seeded: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seeded_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// `envFrom` as Kubernetes defines it (the generated schema would inline the whole type).
fn env_from_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let reference = serde_json::json!({
        "type": "object",
        "properties": {
            "name": { "type": "string" },
            "optional": { "type": "boolean" }
        },
        "required": ["name"]
    });
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "prefix": { "type": "string" },
                "configMapRef": reference,
                "secretRef": reference
            }
        }
    })
}

/// Standard `metav1.Condition`s.
/// The phases as plain strings: the schema generated for an `Option` of an enum lists `null`
/// among them, which older API servers and kubectl's client-side validation refuse. An
/// absent phase is never written (`skip_serializing_if`).
fn phase_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": ["Pending", "Running", "Succeeded", "Failed"]
    })
}

fn conditions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "type": { "type": "string" },
                "status": { "type": "string", "enum": ["True", "False", "Unknown"] },
                "reason": { "type": "string" },
                "message": { "type": "string" },
                "lastTransitionTime": { "type": "string", "format": "date-time" },
                "observedGeneration": { "type": "integer", "format": "int64" }
            },
            "required": ["type", "status", "lastTransitionTime", "reason", "message"]
        }
    })
}
