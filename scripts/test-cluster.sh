#!/usr/bin/env bash
# The chart on a real Kubernetes: builds the test cluster once per machine, starts it, puts
# the release binary's images into it, starts the test services the production install uses
# on the node's bridge address (as managed services live outside a cluster), runs
# scripts/cluster/test_chart_on_cluster.py, stops the cluster and checks that the host is as
# it was before: no process, mount, iptables chain, link, sysctl or directory left behind.
#   usage: scripts/test-cluster.sh RELEASE_BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster/common.sh
source scripts/cluster/common.sh

binary=${1:?usage: scripts/test-cluster.sh RELEASE_BINARY}
VENV=.tools/venv
work=$(mktemp -d)

cleanup() {
  local status=$?
  [[ -n ${TEST_SERVICES_RUN:-} ]] && scripts/test-services.sh stop
  scripts/cluster/down.sh || status=1
  if ((status != 0)) && [[ -d $CLUSTER_CACHE/last-logs ]]; then
    echo "the cluster's last log lines:" >&2
    tail -n 5 "$CLUSTER_CACHE"/last-logs/*.log >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}

scripts/cluster/build.sh
# A cluster an interrupted run left up is brought down first: the host is then as before.
scripts/cluster/down.sh
scripts/cluster/state.sh >"$work/before"
trap cleanup EXIT
started=$(date +%s)
scripts/cluster/up.sh
echo "cluster up, node Ready, in $(($(date +%s) - started)) s"
scripts/cluster/images.sh orderflow "$binary"

# The test servers again, on the node's bridge address, where the pods reach them.
export TEST_SERVICES_HOST=$HOST_IP TEST_SERVICES_RUN=$work/services
export TEST_SERVICES_ENV=$work/services/services.env
scripts/test-services.sh servers
# shellcheck source=/dev/null
source "$TEST_SERVICES_ENV"

KUBECONFIG=$KUBECONFIG_FILE KUBECTL=$CLUSTER_CACHE/bin/kubectl HELM=$PWD/.tools/bin/helm \
  HOST_IP=$HOST_IP CLUSTER_RUN=$CLUSTER_RUN \
  MONGO_URI="${ORDERFLOW_TEST_MONGO_URI/\/\?//orderflow?}" \
  REDIS_URL=$ORDERFLOW_TEST_REDIS_URL AWS_ENDPOINT=$ORDERFLOW_TEST_AWS_ENDPOINT \
  "$VENV/bin/python" -W error::ResourceWarning scripts/cluster/test_chart_on_cluster.py

scripts/test-services.sh stop
scripts/cluster/down.sh
scripts/cluster/state.sh >"$work/after"
if ! diff -u "$work/before" "$work/after"; then
  echo "error: the cluster's down left the host changed (above)" >&2
  exit 1
fi
echo "cluster down: no process, mount, iptables rule or chain, link, sysctl, cgroup or directory left"
