# The test cluster's settings, shared by build.sh, up.sh, down.sh and images.sh.
# shellcheck shell=bash

# Build output, kept across runs (only the first run on a machine builds).
CLUSTER_CACHE=${CLUSTER_CACHE:-/var/tmp/orderflow-cluster}
# Everything a running cluster writes; `down` removes it.
CLUSTER_RUN=${CLUSTER_RUN:-/var/tmp/orderflow-cluster-run}

K8S_VERSION=1.20.2
K8S_DEB_VERSION=1.20.5+really1.20.2-1.1+deb12u1
GO_DEB=1.19.8-2
ETCD_DEB=3.4.23-4+b4
REFLECT2_DEB=1.0.2-2
BUSYBOX_DEB=1:1.37.0-6+b9
PAUSE_VERSION=3.4
PAUSE_IMAGE=k8s.gcr.io/pause:$PAUSE_VERSION

NODE_NAME=orderflow-node
# The node's bridge: pods live on POD_CIDR behind it, and the host's end (HOST_IP) is where
# the API server, the cluster DNS and the test services the pods use listen.
BRIDGE=orderflow0
HOST_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SERVICE_IP=10.96.0.1
ETCD_PORT=23790
APISERVER_PORT=6443
KUBECONFIG_FILE=$CLUSTER_RUN/admin.kubeconfig

# Values the kubelet and kube-proxy change, restored by `down`.
SYSCTLS=(
  net.ipv4.ip_forward
  net.ipv4.conf.all.route_localnet
  net.bridge.bridge-nf-call-iptables
  vm.overcommit_memory
  vm.panic_on_oom
  kernel.panic
  kernel.panic_on_oops
  kernel.keys.root_maxkeys
  kernel.keys.root_maxbytes
)
# Directories outside CLUSTER_RUN that containerd, the CNI plugins and the kubelet create.
HOST_DIRS=(/run/containerd /run/netns /var/lib/cni /var/log/pods /var/log/containers /var/lib/kubelet /etc/kubernetes)
NODE_PACKAGES=(containerd runc containernetworking-plugins iptables nftables conntrack dnsmasq-base dpkg-dev iproute2 openssl)

log() { printf '[cluster] %s\n' "$*" >&2; }

install_node_packages() {
  local missing=() p
  for p in "${NODE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]]; then
    apt-get update -qq
  fi
  # The packages' own service scripts must not start a second containerd.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

kubectl_() { "$CLUSTER_CACHE/bin/kubectl" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
