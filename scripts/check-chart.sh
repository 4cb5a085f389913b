#!/usr/bin/env bash
# The Kubernetes delivery, checked offline: hadolint on the Dockerfile; yamllint on k8s/,
# the values files and skaffold.yaml; `helm lint --strict` and `helm template` of the chart
# for each values file, every core object validated by kubernetes-validate --strict, the KEDA
# and Prometheus Operator objects by the cloudcoil models with unknown fields refused, the
# secure defaults asserted on the rendered Deployments (scripts/check_chart.py); values that
# break the schema refused; the chart's CRD, alerts and dashboards identical to their
# sources; skaffold.yaml's references resolved. Tools from scripts/test-services.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.tools/venv
HELM=.tools/bin/helm
CHART=charts/orderflow
KUBERNETES_VERSION=1.37.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "hadolint"
"$VENV/bin/hadolint" --failure-threshold warning Dockerfile

echo "yamllint"
"$VENV/bin/yamllint" --strict k8s/ "$CHART/values.yaml" "$CHART/ci/" "$CHART/Chart.yaml" \
  skaffold.yaml .yamllint.yaml scripts/chart-invalid-values/

# The defaults, a minimal install, production (KEDA, monitoring, ingress, network policy)
# and the kind development values.
declare -A values_files=(
  [defaults]=""
  [minimal]="$CHART/ci/minimal-values.yaml"
  [production]="$CHART/ci/production-values.yaml"
  [kind]="k8s/kind-values.yaml"
)
mkdir -p "$work/rendered" "$work/core"
for name in "${!values_files[@]}"; do
  file=${values_files[$name]}
  args=(--namespace orderflow)
  [[ -n $file ]] && args+=(--values "$file")
  "$HELM" lint --strict --quiet "$CHART" "${args[@]}" >/dev/null
  "$HELM" template orderflow "$CHART" "${args[@]}" --include-crds \
    --kube-version "$KUBERNETES_VERSION" > "$work/rendered/$name.yaml"
  # Core objects to kubernetes-validate; the KEDA and monitoring ones go to the models.
  "$VENV/bin/python" - "$work/rendered/$name.yaml" "$work/core/$name.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
core = [d for d in docs if d["apiVersion"].split("/")[0] not in ("keda.sh", "monitoring.coreos.com")]
yaml.safe_dump_all(core, open(sys.argv[2], "w"))
PY
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$work/core/$name.yaml"
  echo "$name: helm lint and kubernetes-validate --strict ($KUBERNETES_VERSION) clean"
done
for file in scripts/chart-invalid-values/*.yaml; do
  if "$HELM" template orderflow "$CHART" --values "$file" > /dev/null 2> "$work/error"; then
    echo "error: $file breaks the values schema but was accepted" >&2
    exit 1
  fi
  grep -q "don't meet the specifications of the schema" "$work/error" \
    || { echo "error: $file failed for another reason:" >&2; cat "$work/error" >&2; exit 1; }
done
echo "values breaking the schema: $(ls scripts/chart-invalid-values/*.yaml | wc -l) refused"

cargo run --quiet --locked -p orderflow -- crd > "$work/crd.yaml"
"$VENV/bin/python" scripts/check_chart.py "$work/rendered" "$work/crd.yaml"
"$VENV/bin/python" scripts/check_skaffold.py
