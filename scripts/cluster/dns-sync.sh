#!/usr/bin/env bash
# Keeps the cluster DNS's hosts file equal to the Services the API holds: one line per
# Service with a cluster IP, `<ip> <name>.<namespace>.svc.cluster.local`. dnsmasq re-reads
# the directory when the file is replaced. Rewritten whenever a Service changes.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cluster/common.sh
source "$here/common.sh"

hosts=$CLUSTER_RUN/dns/services
template='{{range .items}}{{if and .spec.clusterIP (ne .spec.clusterIP "None")}}{{.spec.clusterIP}} {{.metadata.name}}.{{.metadata.namespace}}.svc.cluster.local{{"\n"}}{{end}}{{end}}'
write() {
  kubectl_ get services --all-namespaces -o go-template="$template" >"$hosts.new" && mv "$hosts.new" "$hosts"
}
while true; do
  write
  # Each event of the watch rewrites the file; the watch ends now and then, and is renewed.
  kubectl_ get services --all-namespaces --watch-only -o name 2>/dev/null | while read -r _; do write; done
  sleep 1
done
