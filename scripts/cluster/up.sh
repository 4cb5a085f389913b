#!/usr/bin/env bash
# Starts the single-node test cluster: etcd, the API server, the controller manager and the
# scheduler; containerd with the CNI bridge, the kubelet and kube-proxy; dnsmasq as the
# cluster DNS. Returns once the node is Ready. Everything it changes on the host is noted
# first, so that down.sh puts it back.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cluster/common.sh
source "$here/common.sh"

"$here/build.sh"

if [[ -d $CLUSTER_RUN ]]; then
  log "$CLUSTER_RUN exists: the cluster is up, or was not brought down; run down.sh first"
  exit 1
fi
started=$(date +%s.%N)
mkdir -p "$CLUSTER_RUN"/{pids,logs,pki,cni,cni-ipam,dns,kubelet,containerd}
bin=$CLUSTER_CACHE/bin

# What down.sh restores.
for s in "${SYSCTLS[@]}"; do printf '%s=%s\n' "$s" "$(sysctl -n "$s")"; done >"$CLUSTER_RUN/sysctls.saved"
for d in "${HOST_DIRS[@]}"; do [[ -e $d ]] && echo "$d"; done >"$CLUSTER_RUN/host-dirs.saved" || true
# iptables here is nftables underneath: tables the node creates stay, empty, unless removed.
nft list tables >"$CLUSTER_RUN/nft-tables.saved"
for ns in /run/netns/cni-*; do [[ -e $ns ]] && echo "$ns"; done >"$CLUSTER_RUN/netns.saved" || true

# start NAME COMMAND...: in the background, in a session of its own, PID noted.
start() {
  local name=$1
  shift
  setsid "$@" >"$CLUSTER_RUN/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$CLUSTER_RUN/pids/$name.pid"
}
# wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds.
wait_for() {
  local what=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "$what did not come up in ${seconds}s; the logs:"
  tail -n 15 "$CLUSTER_RUN"/logs/*.log >&2 || true
  exit 1
}

# Certificates: one CA; the API server's serving certificate; one client certificate in
# system:masters for the components and the tests (the charts' own RBAC is exercised by
# their pods' service-account tokens); the service-account signing key.
pki=$CLUSTER_RUN/pki
openssl_quiet() { openssl "$@" 2>/dev/null; }
openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=orderflow-test-ca \
  -keyout "$pki/ca.key" -out "$pki/ca.crt"
cat >"$pki/apiserver.ext" <<EOF
subjectAltName=IP:$HOST_IP,IP:$KUBERNETES_SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EOF
echo "extendedKeyUsage=clientAuth" >"$pki/client.ext"
issue() { # name subject extfile
  openssl_quiet req -newkey rsa:2048 -nodes -subj "$2" -keyout "$pki/$1.key" -out "$pki/$1.csr"
  openssl_quiet x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -extfile "$3" -out "$pki/$1.crt"
}
issue apiserver /CN=kube-apiserver "$pki/apiserver.ext"
issue admin "/O=system:masters/CN=orderflow-test-admin" "$pki/client.ext"
openssl_quiet genrsa -out "$pki/sa.key" 2048
openssl_quiet rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: orderflow-test
    cluster:
      server: https://$HOST_IP:$APISERVER_PORT
      certificate-authority: $pki/ca.crt
users:
  - name: admin
    user:
      client-certificate: $pki/admin.crt
      client-key: $pki/admin.key
contexts:
  - name: orderflow-test
    context: {cluster: orderflow-test, user: admin}
current-context: orderflow-test
EOF

# The node's bridge, made before the API server binds to its address. Service addresses
# route onto it, so nothing meant for the cluster leaves the machine before kube-proxy's
# rules exist; pods may reach the host and each other, and nothing else.
ip link add "$BRIDGE" type bridge
ip addr add "$HOST_IP/${POD_CIDR#*/}" dev "$BRIDGE"
ip link set "$BRIDGE" up
ip route add "$SERVICE_CIDR" dev "$BRIDGE"
iptables -w -N ORDERFLOW-CLUSTER
iptables -w -A ORDERFLOW-CLUSTER -i "$BRIDGE" -o "$BRIDGE" -j RETURN
iptables -w -A ORDERFLOW-CLUSTER -i "$BRIDGE" -j DROP
iptables -w -I FORWARD 1 -j ORDERFLOW-CLUSTER
# Pod to Service to pod goes in and out of the bridge through the host's NAT.
sysctl -qw net.ipv4.ip_forward=1

start etcd "$bin/etcd" --name orderflow-test --data-dir "$CLUSTER_RUN/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
  --initial-cluster "orderflow-test=http://127.0.0.1:$((ETCD_PORT + 1))" \
  --unsafe-no-fsync --snapshot-count 10000 --log-level warn

start kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
  --bind-address "$HOST_IP" --advertise-address "$HOST_IP" --secure-port "$APISERVER_PORT" --insecure-port 0 \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
  --client-ca-file "$pki/ca.crt" \
  --kubelet-client-certificate "$pki/admin.crt" --kubelet-client-key "$pki/admin.key" \
  --kubelet-preferred-address-types InternalIP \
  --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --authorization-mode Node,RBAC --allow-privileged=true \
  --feature-gates TTLAfterFinished=true \
  --profiling=false --enable-priority-and-fairness=false --v 1
wait_for "the API server" 40 "$bin/kubectl" --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz

start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$KUBECONFIG_FILE" \
  --leader-elect=false --port 0 --secure-port 0 --use-service-account-credentials \
  --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
  --feature-gates TTLAfterFinished=true --controllers '*,-nodeipam,-cloud-node-lifecycle' \
  --profiling=false --v 1
start kube-scheduler "$bin/kube-scheduler" --kubeconfig "$KUBECONFIG_FILE" \
  --leader-elect=false --port 0 --secure-port 0 --profiling=false --v 1

# containerd, all its state under CLUSTER_RUN. No registry is reachable from here: the
# registries the chart and the tests name are served by a closed local port (hosts.toml's
# server replaces the registry itself), so a missing image fails at once, on this machine.
for registry in _default docker.io ghcr.io k8s.gcr.io registry.k8s.io registry.orderflow.invalid; do
  mkdir -p "$CLUSTER_RUN/containerd/certs.d/$registry"
  printf 'server = "http://127.0.0.1:9"\n[host."http://127.0.0.1:9"]\n  capabilities = ["pull", "resolve"]\n' \
    >"$CLUSTER_RUN/containerd/certs.d/$registry/hosts.toml"
done
cat >"$CLUSTER_RUN/containerd/config.toml" <<EOF
version = 2
root = "$CLUSTER_RUN/containerd/root"
state = "$CLUSTER_RUN/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CLUSTER_RUN/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_RUN/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # Root here may not lower oom_score_adj (no CAP_SYS_RESOURCE): without this every
  # sandbox fails to start.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_RUN/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$CLUSTER_RUN/containerd/certs.d"
EOF
cat >"$CLUSTER_RUN/cni/10-orderflow.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "orderflow",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$HOST_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$CLUSTER_RUN/cni-ipam"
      }
    }
  ]
}
EOF
start containerd containerd --config "$CLUSTER_RUN/containerd/config.toml"
wait_for "containerd" 20 ctr --address "$CLUSTER_RUN/containerd/containerd.sock" version
"$here/images.sh" base

# The cluster DNS: dnsmasq answers Service names from a hosts file kept current from the
# API; it forwards nothing.
echo "nameserver $HOST_IP" >"$CLUSTER_RUN/resolv.conf"
start dns-sync "$here/dns-sync.sh"
start dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
  --bind-interfaces --listen-address="$HOST_IP" --except-interface=lo --port=53 --user=root \
  --pid-file="$CLUSTER_RUN/dnsmasq.pidfile" --hostsdir="$CLUSTER_RUN/dns" --local=/cluster.local/ \
  --log-facility=-

cat >"$CLUSTER_RUN/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $HOST_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
clusterDomain: cluster.local
clusterDNS: [$HOST_IP]
resolvConf: $CLUSTER_RUN/resolv.conf
failSwapOn: false
hairpinMode: hairpin-veth
protectKernelDefaults: false
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
nodeStatusUpdateFrequency: 4s
volumePluginDir: $CLUSTER_RUN/kubelet/volume-plugins
EOF
start kubelet "$bin/kubelet" --config "$CLUSTER_RUN/kubelet/config.yaml" \
  --kubeconfig "$KUBECONFIG_FILE" --container-runtime remote \
  --container-runtime-endpoint "unix://$CLUSTER_RUN/containerd/containerd.sock" \
  --root-dir "$CLUSTER_RUN/kubelet/root" --cert-dir "$CLUSTER_RUN/kubelet/pki" \
  --hostname-override "$NODE_NAME" --node-ip "$HOST_IP" --pod-infra-container-image "$PAUSE_IMAGE" --v 1
# Conntrack's table and timeouts are left as the host has them.
start kube-proxy "$bin/kube-proxy" --kubeconfig "$KUBECONFIG_FILE" --hostname-override "$NODE_NAME" \
  --proxy-mode iptables --masquerade-all --cluster-cidr "$POD_CIDR" --bind-address "$HOST_IP" \
  --conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
  --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256 --v 1

node_ready() {
  [[ $(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}
wait_for "the node" 60 node_ready
# Pods are only admitted once their namespace's default service account exists.
wait_for "the default service account" 20 kubectl_ -n default get serviceaccount default
log "node Ready in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s; KUBECONFIG=$KUBECONFIG_FILE"
