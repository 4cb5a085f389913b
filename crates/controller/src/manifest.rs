//! The CustomResourceDefinition as YAML, for `orderflow crd` and the Helm chart's copy.
use kube::CustomResourceExt;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlEmitter, yaml::Hash};

use crate::crd::InventorySeed;

/// The InventorySeed CRD as one YAML document.
pub fn crd_yaml() -> Result<String, serde_json::Error> {
    let crd = serde_json::to_value(InventorySeed::crd())?;
    Ok(to_yaml_document(&crd))
}

/// `value` as a YAML document, keys in their order, ending with a newline.
pub fn to_yaml_document(value: &Value) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(true);
    // Writing into a String cannot fail.
    let _ = emitter.dump(&to_yaml(value));
    out.push('\n');
    out
}

fn to_yaml(value: &Value) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => {
            let mut hash = Hash::new();
            for (key, value) in map {
                hash.insert(Yaml::String(key.clone()), to_yaml(value));
            }
            Yaml::Hash(hash)
        }
    }
}
