#!/usr/bin/env bash
# Installs (idempotently) and starts what the tests need, on loopback only.
#   start   install tools and start services
#   stop    stop what `start` started
set -euo pipefail
cd "$(dirname "$0")/.."

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

install_tools() {
  if ! need node || ! need npm; then
    echo "installing Node.js (for the Postman collection generator)"
    apt_install nodejs npm
  fi
  # The collection generator, pinned by scripts/postman/package-lock.json.
  if [[ ! -d scripts/postman/node_modules/openapi-to-postmanv2 ]]; then
    echo "installing openapi-to-postmanv2"
    (cd scripts/postman && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

case "${1:-start}" in
  start) install_tools ;;
  stop) ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
