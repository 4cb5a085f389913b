#!/usr/bin/env bash
# The Postman collection as its users run it: it covers every operation of the OpenAPI
# document, and newman runs it without a failure against a fresh `serve`, on SQLite and on
# MongoDB (the test server of scripts/test-services.sh).
#   usage: scripts/test-postman.sh BINARY
set -euo pipefail
cd "$(dirname "$0")/.."

binary=$(realpath "${1:?usage: scripts/test-postman.sh BINARY}")
collection=docs/postman/orderflow.postman_collection.json
# shellcheck source=/dev/null
source .tools/services.env
work=$(mktemp -d)
server=
cleanup() {
  [[ -n $server ]] && kill "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

python3 - "$collection" docs/openapi.json <<'PY'
import json, re, sys
collection, openapi = (json.load(open(p)) for p in sys.argv[1:])
def requests(items):
    for item in items:
        yield from requests(item.get("item", [])) if "item" in item else [item["request"]]
covered = {(r["method"], "/" + "/".join("*" if "{{" in s else s for s in r["url"]["path"]))
           for r in requests(collection["item"])}
operations = {(method.upper(), re.sub(r"\{[^}]+\}", "*", path))
              for path, methods in openapi["paths"].items() for method in methods}
missing = sorted(operations - covered)
if missing:
    sys.exit(f"{sys.argv[1]} misses OpenAPI operations: {missing}")
print(f"the collection covers all {len(operations)} OpenAPI operations")
PY

run_against() { # name, extra environment
  local name=$1 port
  shift
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/$name"
  (cd "$work/$name" && exec env "$@" PORT="$port" HOST=127.0.0.1 "$binary" serve >"$work/$name.log" 2>&1) &
  server=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  scripts/postman/node_modules/.bin/newman run "$collection" -e docs/postman/local.postman_environment.json \
    --env-var "baseUrl=http://127.0.0.1:$port" --reporters cli,json \
    --reporter-json-export "$work/$name.json" >"$work/$name.out" 2>&1 || true
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=
  python3 - "$work/$name.json" "$name" <<'PY' || { cat "$work/$name.out" >&2; exit 1; }
import json, sys
run = json.load(open(sys.argv[1]))["run"]
assertions = sum(len(e.get("assertions", [])) for e in run["executions"])
failures = len(run["failures"])
print(f"newman against serve on {sys.argv[2]}: {len(run['executions'])} requests, "
      f"{assertions} assertions, {failures} failures")
if failures or assertions < 40:
    sys.exit(1)
PY
}
run_against SQLite
# A database of its own on the test server.
mongo=${ORDERFLOW_TEST_MONGO_URI%%\?*}
run_against MongoDB MONGO_URI="${mongo%/}/postman-$$?retryWrites=false"
