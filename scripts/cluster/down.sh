#!/usr/bin/env bash
# Stops the test cluster and puts the host back as up.sh found it: every process it started
# (and the containers' processes), every mount under its directories and the pods' network
# namespaces, the iptables chains of the kubelet, kube-proxy and the bridge, the bridge
# itself, the sysctls the kubelet and kube-proxy set, the cgroups and directories they made.
# The logs are kept in $CLUSTER_CACHE/last-logs. Does nothing when the cluster is not up.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cluster/common.sh
source "$here/common.sh"

[[ -d $CLUSTER_RUN ]] || exit 0

alive() { # pids: whether any is still running
  local pid
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}
stop() { # names: TERM their sessions, then KILL what is left after 10 s
  local name pid pids=() i
  for name in "$@"; do
    [[ -f $CLUSTER_RUN/pids/$name.pid ]] || continue
    pid=$(cat "$CLUSTER_RUN/pids/$name.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || continue
    pids+=("$pid")
  done
  for ((i = 0; i < 50; i++)); do
    alive "${pids[@]}" || return 0
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
}

# The node first, so that nothing restarts containers; then the containers' processes (found
# through the pods' cgroups) and containerd's shims (found by the socket they were given).
stop kubelet kube-proxy dns-sync dnsmasq
for _ in 1 2 3; do
  pids=$(find /sys/fs/cgroup/pids/kubepods -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
  [[ -n $pids ]] || break
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null
  sleep 0.5
done
shims=$(pgrep -f "containerd-shim.*-address $CLUSTER_RUN/containerd/containerd.sock" || true)
# shellcheck disable=SC2086
[[ -n $shims ]] && kill -KILL $shims 2>/dev/null
stop containerd kube-controller-manager kube-scheduler kube-apiserver
stop etcd

# Mounts: the containers' root file systems, the pods' volumes and network namespaces.
# Deepest first.
mounts() {
  awk '{ print $5 }' /proc/self/mountinfo | grep -E "^($CLUSTER_RUN/|/run/netns/cni-|/run/containerd/)" | sort -r
}
for _ in 1 2 3; do
  list=$(mounts)
  [[ -n $list ]] || break
  while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done <<<"$list"
done
for ns in /run/netns/cni-*; do
  [[ -e $ns ]] && ! grep -qx "$ns" "$CLUSTER_RUN/netns.saved" 2>/dev/null && rm -f "$ns"
done

# iptables: every chain of the kubelet (KUBE-*), kube-proxy (KUBE-*), the CNI plugins (CNI-*)
# and up.sh (ORDERFLOW-CLUSTER), and every rule that jumps to one, in both families.
ours='KUBE-|CNI-|ORDERFLOW-CLUSTER'
for family in iptables ip6tables; do
  dump=$("$family-save" 2>/dev/null) || continue
  grep -qE -- "$ours" <<<"$dump" || continue
  grep -vE -- "$ours" <<<"$dump" | "$family-restore" -w
done

# Tables only when up.sh noted which there were: never one the host had.
if [[ -f $CLUSTER_RUN/nft-tables.saved ]]; then
  nft list tables | while read -r _ family table; do
    grep -qx "table $family $table" "$CLUSTER_RUN/nft-tables.saved" || nft delete table "$family" "$table"
  done
fi

ip link delete "$BRIDGE" 2>/dev/null || true

if [[ -f $CLUSTER_RUN/sysctls.saved ]]; then
  while IFS='=' read -r name value; do
    [[ -n $name ]] && sysctl -qw "$name=$value"
  done <"$CLUSTER_RUN/sysctls.saved"
fi

# The kubelet's cgroups (cgroupfs driver), in every hierarchy, deepest first.
for hierarchy in /sys/fs/cgroup/*/; do
  [[ -d $hierarchy/kubepods ]] || continue
  find "$hierarchy/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null
done

if [[ -f $CLUSTER_RUN/host-dirs.saved ]]; then
  for d in "${HOST_DIRS[@]}"; do
    grep -qx "$d" "$CLUSTER_RUN/host-dirs.saved" || rm -rf "$d"
  done
fi

rm -rf "$CLUSTER_CACHE/last-logs"
cp -r "$CLUSTER_RUN/logs" "$CLUSTER_CACHE/last-logs" 2>/dev/null || true
rm -rf "$CLUSTER_RUN"
log "down"
