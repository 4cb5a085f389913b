#!/usr/bin/env bash
# The InventorySeed CRD that `orderflow crd` prints is a valid CustomResourceDefinition, and
# every example resource in k8s/examples validates against its schema (and a broken one
# does not). Needs the tools scripts/test-services.sh installs into .tools/venv.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.tools/venv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo run --quiet --locked -p orderflow -- crd > "$work/crd.yaml"
"$VENV/bin/kubernetes-validate" --strict --quiet "$work/crd.yaml"

# The schema, and each example document: InventorySeeds to check against the schema, the
# rest (ConfigMaps) to check as Kubernetes objects.
"$VENV/bin/python" - "$work" k8s/examples/*.yaml <<'PY'
import json, sys, yaml
work, files = sys.argv[1], sys.argv[2:]
with open(f"{work}/crd.yaml") as f:
    crd = yaml.safe_load(f)
schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
with open(f"{work}/schema.json", "w") as f:
    json.dump(schema, f)
seeds = 0
for path in files:
    with open(path) as f:
        for index, doc in enumerate(yaml.safe_load_all(f)):
            if doc is None:
                continue
            name = path.replace("/", "_") + f".{index}"
            if doc.get("kind") == "InventorySeed":
                seeds += 1
                target = f"{work}/seed-{name}.json"
                # A copy with a wrong type, which the schema must reject.
                broken = json.loads(json.dumps(doc))
                broken["spec"]["mode"] = "Sometimes"
                with open(f"{work}/broken-{name}.json", "w") as out:
                    json.dump(broken, out)
            else:
                target = f"{work}/core-{name}.yaml"
            with open(target, "w") as out:
                (json.dump if target.endswith(".json") else yaml.safe_dump)(doc, out)
if seeds == 0:
    sys.exit("no InventorySeed examples found")
PY

"$VENV/bin/check-jsonschema" --schemafile "$work/schema.json" "$work"/seed-*.json
if ls "$work"/core-*.yaml >/dev/null 2>&1; then
  "$VENV/bin/kubernetes-validate" --strict --quiet "$work"/core-*.yaml
fi
for broken in "$work"/broken-*.json; do
  if "$VENV/bin/check-jsonschema" --schemafile "$work/schema.json" "$broken" >/dev/null 2>&1; then
    echo "error: the CRD schema accepted an invalid resource ($broken)" >&2
    exit 1
  fi
done
echo "the CRD is valid and the examples validate against it"
