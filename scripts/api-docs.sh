#!/usr/bin/env bash
# Writes docs/openapi.json (from the code). The Postman collection in docs/postman/ is kept by
# hand; scripts/test-postman.sh checks it covers every operation of this document.
#   --check   write nothing; fail if the committed document is out of date
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cargo run --quiet --locked -- openapi > "$scratch/openapi.json"

if [[ "${1:-}" == "--check" ]]; then
  if ! cmp -s "$scratch/openapi.json" docs/openapi.json; then
    echo "docs/openapi.json is out of date: run scripts/api-docs.sh and commit it" >&2
    diff -u docs/openapi.json "$scratch/openapi.json" | head -40 >&2 || true
    exit 1
  fi
  echo "docs/openapi.json is current"
  exit 0
fi

cp "$scratch/openapi.json" docs/
echo "wrote docs/openapi.json"
