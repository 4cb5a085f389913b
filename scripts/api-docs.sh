#!/usr/bin/env bash
# Writes docs/openapi.json (from the code) and docs/postman_collection.json (from that).
#   --check   write nothing; fail if either committed file is out of date
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cargo run --quiet --locked -- openapi > "$scratch/openapi.json"
node scripts/postman/generate.js "$scratch/openapi.json" > "$scratch/postman_collection.json"

if [[ "${1:-}" == "--check" ]]; then
  stale=0
  for file in openapi.json postman_collection.json; do
    if ! cmp -s "$scratch/$file" "docs/$file"; then
      echo "docs/$file is out of date: run scripts/api-docs.sh and commit it" >&2
      diff -u "docs/$file" "$scratch/$file" | head -40 >&2 || true
      stale=1
    fi
  done
  [[ $stale -eq 0 ]] && echo "docs/openapi.json and docs/postman_collection.json are current"
  exit $stale
fi

cp "$scratch/openapi.json" "$scratch/postman_collection.json" docs/
echo "wrote docs/openapi.json and docs/postman_collection.json"
