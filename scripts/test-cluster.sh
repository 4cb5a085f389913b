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
service_pids=()

cleanup() {
  local status=$?
  for pid in "${service_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
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

free_port() {
  python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1]); s.close()' "$HOST_IP"
}
wait_port() {
  for _ in $(seq 1 150); do
    python3 -c "import socket; socket.create_connection(('$HOST_IP', $1), 0.2)" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "error: nothing listens on $HOST_IP:$1; $2" >&2
  exit 1
}
mongo_port=$(free_port)
"$VENV/bin/secantusd-py" --host "$HOST_IP" --port "$mongo_port" --storage-path :memory: \
  --log-level WARNING >"$work/secantusd.log" 2>&1 &
service_pids+=($!)
redis_port=$(free_port)
redis-server --bind "$HOST_IP" --port "$redis_port" --save "" --appendonly no --protected-mode no \
  >"$work/redis.log" 2>&1 &
service_pids+=($!)
aws_port=$(free_port)
"$VENV/bin/moto_server" -H "$HOST_IP" -p "$aws_port" >"$work/moto.log" 2>&1 &
service_pids+=($!)
wait_port "$mongo_port" "the MongoDB test server"
wait_port "$redis_port" "redis-server"
wait_port "$aws_port" "moto"

KUBECONFIG=$KUBECONFIG_FILE KUBECTL=$CLUSTER_CACHE/bin/kubectl HELM=$PWD/.tools/bin/helm \
  HOST_IP=$HOST_IP CLUSTER_RUN=$CLUSTER_RUN \
  MONGO_URI="mongodb://$HOST_IP:$mongo_port/orderflow?retryWrites=false" \
  REDIS_URL="redis://$HOST_IP:$redis_port" AWS_ENDPOINT="http://$HOST_IP:$aws_port" \
  "$VENV/bin/python" -W error::ResourceWarning scripts/cluster/test_chart_on_cluster.py

for pid in "${service_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
service_pids=()
scripts/cluster/down.sh
scripts/cluster/state.sh >"$work/after"
if ! diff -u "$work/before" "$work/after"; then
  echo "error: the cluster's down left the host changed (above)" >&2
  exit 1
fi
echo "cluster down: no process, mount, iptables rule or chain, link, sysctl, cgroup or directory left"
