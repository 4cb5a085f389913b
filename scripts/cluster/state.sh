#!/usr/bin/env bash
# Prints what the test cluster may change on the host, in a form to compare before up.sh and
# after down.sh: its processes, mounts, iptables rules and chains of both families, network
# links, the sysctls it sets, the cgroups and directories it creates.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cluster/common.sh
source "$here/common.sh"

echo "# processes"
ps -eo comm= | grep -E '^(etcd|kube-|kubelet|containerd|dnsmasq|pause|orderflow|busybox|dns-sync)' | sort | uniq -c
echo "# mounts"
awk '{ print $5, $9 }' /proc/self/mountinfo | grep -E "^($CLUSTER_RUN|/run/netns|/run/containerd|/var/lib/kubelet)" | sort
echo "# iptables"
iptables-save 2>/dev/null | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]$//'
echo "# ip6tables"
ip6tables-save 2>/dev/null | grep -v '^#' | sed -E 's/ \[[0-9]+:[0-9]+\]$//'
echo "# nft tables"
nft list tables 2>/dev/null
echo "# links"
ip -o link show | awk -F': ' '{ print $2 }' | sed 's/@.*//' | sort
echo "# sysctls"
for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s" 2>/dev/null)"; done
echo "# cgroups"
ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null
echo "# directories"
for d in "${HOST_DIRS[@]}" "$CLUSTER_RUN"; do [[ -e $d ]] && echo "$d"; done
ls /run/netns 2>/dev/null
exit 0
