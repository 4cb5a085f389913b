#!/usr/bin/env bash
# Benchmarks, never part of the test suite: builds release, starts what each scenario needs
# on loopback (Redis for the Redis scenario; the embedded default otherwise), runs every
# scenario three times with load from other processes (wrk, scripts/bench/*.lua; the
# fixed-rate client bench-load), and writes docs/BENCHMARKS.md and docs/benchmarks.svg.
#   BENCH_SECONDS (default 8) sets the length of each wrk run.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${BENCH_SECONDS:-8}
RUNS=3
DRAIN_ORDERS=${BENCH_DRAIN_ORDERS:-50000}
PASSWORD="a benchmark password"

need() { command -v "$1" >/dev/null 2>&1; }
for tool in wrk redis-server curl; do
  if ! need "$tool"; then
    [[ $(id -u) -eq 0 ]] || { echo "error: $tool missing; apt-get install wrk redis-server curl" >&2; exit 1; }
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk redis-server curl >/dev/null
  fi
done

echo "==> building release"
cargo build --release --locked -p orderflow -p orderflow-bench
target=${CARGO_TARGET_DIR:-target}/release
ORDERFLOW=$target/orderflow

work=$(mktemp -d)
results=$work/results.jsonl
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
record() { # scenario, run, json
  python3 -c 'import json, sys; d = json.loads(sys.argv[3]); d.update(scenario=sys.argv[1], run=int(sys.argv[2])); print(json.dumps(d))' \
    "$1" "$2" "$3" >> "$results"
  echo "  $1 #$2: $3"
}
wait_ready() { # base
  for _ in $(seq 1 300); do
    curl -sf "$1/readyz" >/dev/null && return 0
    sleep 0.05
  done
  echo "error: $1 did not become ready" >&2; exit 1
}
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

redis_port=$(free_port)
redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no > "$work/redis.log" 2>&1 &
pids+=($!)
REDIS_URL="redis://127.0.0.1:$redis_port"

# orderflow serve (or $MODE) on a fresh data dir seeded with one product of ample stock;
# sets SERVE_PID, BASE, TOKEN (a logged-in user) and ORDER (one order, read once so it is
# cached).
start_serve() { # name, extra env (NAME=value ...)
  local name=$1; shift
  local dir=$work/$name port
  mkdir -p "$dir"
  printf 'productId,name,unitPrice,currency,stock\nsku-bench,Bench,1999,USD,1000000000\n' > "$dir/catalog.csv"
  DATA_DIR=$dir "$ORDERFLOW" seed --file "$dir/catalog.csv" > /dev/null
  port=$(free_port)
  env DATA_DIR="$dir" PORT="$port" HOST=127.0.0.1 LOG_FORMAT=json RUST_LOG=warn \
    AUTH_RATE_LIMIT_PER_MINUTE=1000000000 LOGIN_FAILURE_LIMIT=1000000000 "$@" \
    "$ORDERFLOW" "${MODE:-serve}" > "$dir/serve.log" 2>&1 &
  SERVE_PID=$!
  pids+=("$SERVE_PID")
  BASE="http://127.0.0.1:$port"
  wait_ready "$BASE"
  curl -sf -H 'content-type: application/json' -d "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" \
    "$BASE/api/auth/register" > /dev/null
  TOKEN=$(curl -sf -H 'content-type: application/json' -d "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" \
    "$BASE/api/auth/login" | json_field '["accessToken"]')
  ORDER=$(curl -sf -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"items":[{"productId":"sku-bench","quantity":1}]}' "$BASE/api/orders" | json_field '["id"]')
  sleep 0.5 # let the worker finish it, so the cached copy is final
  curl -sf -H "authorization: Bearer $TOKEN" "$BASE/api/orders/$ORDER" > "$work/order.json"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

wrk_run() { # script, connections, url, [seconds]
  # A script file per run: two loads may run side by side.
  local script
  script=$(mktemp "$work/run-XXXXXX.lua")
  cat "scripts/bench/$1" scripts/bench/wrk_json.lua > "$script"
  BENCH_TOKEN=$TOKEN BENCH_PRODUCT=sku-bench BENCH_EMAIL=bench@example.com BENCH_PASSWORD=$PASSWORD \
    wrk -t2 -c"$2" -d"${4:-$SECONDS_PER_RUN}"s --latency -s "$script" "$3" | tail -1
}

echo "==> cached order read, Redis cache, 64 connections (and the bare Redis GET)"
start_serve redis-read REDIS_URL="$REDIS_URL"
port=$(free_port)
"$target/bench-baseline" --port "$port" --body "$work/order.json" --redis-url "$REDIS_URL" > /dev/null &
pids+=($!); baseline=$!
sleep 0.5
for run in $(seq 1 $RUNS); do
  record read_redis "$run" "$(wrk_run get.lua 64 "$BASE/api/orders/$ORDER")"
  record baseline_redis "$run" "$(wrk_run get.lua 64 "http://127.0.0.1:$port/redis")"
done
record peak_rss "1" "{\"rss_mib\": $(peak_rss_mib "$SERVE_PID")}"
stop "$SERVE_PID"

echo "==> cached order read, in-process cache, 64 connections (and the bare fixed bytes)"
start_serve memory-read
for run in $(seq 1 $RUNS); do
  record read_memory "$run" "$(wrk_run get.lua 64 "$BASE/api/orders/$ORDER")"
  record baseline_bytes "$run" "$(wrk_run get.lua 64 "http://127.0.0.1:$port/bytes")"
done
record peak_rss "2" "{\"rss_mib\": $(peak_rss_mib "$SERVE_PID")}"
stop "$SERVE_PID"
stop "$baseline"

echo "==> placing orders, embedded store, 32 connections, worker running (and the store alone)"
processed() { curl -sf "$BASE/metrics" | awk '/^orderflow_orders_processed_total\{outcome="processed"\}/ {print $2}'; }
for run in $(seq 1 $RUNS); do
  start_serve "place-$run"
  before=$(processed)
  record place "$run" "$(wrk_run place.lua 32 "$BASE/api/orders")"
  # What the worker in the same process got done meanwhile: its writes give way to requests'.
  record place_worker "$run" "{\"rate\": $(python3 -c "print(round(($(processed) - $before) / $SECONDS_PER_RUN, 1))")}"
  record peak_rss "3" "{\"rss_mib\": $(peak_rss_mib "$SERVE_PID")}"
  # The store alone, with the machine to itself: serve (and its worker, still on the run's
  # backlog) stopped first.
  stop "$SERVE_PID"
  record store_place "$run" "$("$target/bench-store" --tasks 32 --seconds 5)"
  # The same load on the API alone (`orderflow api`, no worker in the process): what the
  # worker's share of the two cores costs the placements.
  MODE=api start_serve "place-api-$run"
  record place_api "$run" "$(wrk_run place.lua 32 "$BASE/api/orders")"
  stop "$SERVE_PID"
done

echo "==> placed to PROCESSED at a fixed 1,000 orders/s"
for run in $(seq 1 $RUNS); do
  start_serve "latency-$run"
  "$target/bench-load" rate --base "$BASE" --token "$TOKEN" --product sku-bench --per-second 1000 \
    --seconds 10 > "$work/rate.json"
  sleep 1
  curl -sf "$BASE/metrics" > "$work/metrics.txt"
  record end_to_end "$run" "$(python3 scripts/bench/histogram.py "$work/metrics.txt" \
    orderflow_order_end_to_end_duration_seconds 'outcome="processed"' "$work/rate.json")"
  stop "$SERVE_PID"
done

echo "==> login storm, 64 connections, with a cached-read load of 16 connections alongside"
start_serve login
for run in $(seq 1 $RUNS); do
  wrk_run get.lua 16 "$BASE/api/orders/$ORDER" > "$work/reads.json" &
  reads=$!
  logins=$(wrk_run login.lua 64 "$BASE/api/auth/login")
  wait "$reads"
  record login "$run" "$logins"
  record login_reads "$run" "$(cat "$work/reads.json")"
done
record peak_rss "4" "{\"rss_mib\": $(peak_rss_mib "$SERVE_PID")}"
stop "$SERVE_PID"

echo "==> worker draining a backlog of $DRAIN_ORDERS orders (embedded queue, file mail)"
for run in $(seq 1 $RUNS); do
  dir=$work/drain-$run
  mkdir -p "$dir"
  printf 'productId,name,unitPrice,currency,stock\nsku-bench,Bench,1999,USD,1000000000\n' > "$dir/catalog.csv"
  DATA_DIR=$dir "$ORDERFLOW" seed --file "$dir/catalog.csv" > /dev/null
  port=$(free_port)
  env DATA_DIR="$dir" PORT="$port" HOST=127.0.0.1 LOG_FORMAT=json RUST_LOG=warn \
    AUTH_RATE_LIMIT_PER_MINUTE=1000000000 "$ORDERFLOW" api > "$dir/api.log" 2>&1 &
  api=$!; pids+=("$api")
  BASE="http://127.0.0.1:$port"
  wait_ready "$BASE"
  curl -sf -H 'content-type: application/json' -d "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" "$BASE/api/auth/register" > /dev/null
  TOKEN=$(curl -sf -H 'content-type: application/json' -d "{\"email\":\"bench@example.com\",\"password\":\"$PASSWORD\"}" "$BASE/api/auth/login" | json_field '["accessToken"]')
  "$target/bench-load" fill --base "$BASE" --token "$TOKEN" --product sku-bench --count "$DRAIN_ORDERS" --connections 32 > /dev/null
  # Every order published to the queue before the worker starts.
  until curl -sf "$BASE/metrics" | grep -q '^orderflow_outbox_backlog 0$'; do sleep 0.5; done
  stop "$api"
  probe=$(free_port)
  started=$(date +%s.%N)
  env DATA_DIR="$dir" WORKER_METRICS_PORT="$probe" LOG_FORMAT=json RUST_LOG=warn \
    "$ORDERFLOW" worker > "$dir/worker.log" 2>&1 &
  worker=$!; pids+=("$worker")
  # Drained: every order processed and its email sent (the email outbox trails the orders).
  until curl -sf "http://127.0.0.1:$probe/metrics" 2>/dev/null \
    | grep -c -e "^orderflow_orders_processed_total{outcome=\"processed\"} $DRAIN_ORDERS$" \
      -e "^orderflow_emails_total{outcome=\"sent\"} $DRAIN_ORDERS$" | grep -qx 2; do sleep 0.05; done
  finished=$(date +%s.%N)
  record drain "$run" "$(python3 -c "print('{\"orders\": $DRAIN_ORDERS, \"rate\": %.1f}' % ($DRAIN_ORDERS / ($finished - $started)))")"
  stop "$worker"
done

echo "==> start-up of orderflow serve on an existing data dir (the placement run's, with its backlog)"
for run in $(seq 1 $RUNS); do
  record startup "$run" "$("$target/bench-load" startup --binary "$ORDERFLOW" --data-dir "$work/place-$RUNS" --port "$(free_port)")"
done

echo "==> idle memory of orderflow serve: 2 s after ready, no requests, on a data dir with nothing pending"
# The drain runs' data dirs: 50,000 processed orders each, the queue and outbox empty.
for run in $(seq 1 $RUNS); do
  record idle "$run" "$("$target/bench-load" startup --binary "$ORDERFLOW" --data-dir "$work/drain-$run" --port "$(free_port)" --idle-ms 2000)"
done

echo "==> writing docs/BENCHMARKS.md and docs/benchmarks.svg"
python3 scripts/bench/report.py "$results" docs/BENCHMARKS.md docs/benchmarks.svg
