#!/usr/bin/env bash
# Builds the test cluster's programs once per machine, into $CLUSTER_CACHE (outside the clone,
# like CARGO_TARGET_DIR): Kubernetes v1.20.2 from Debian bookworm's source package with
# Debian's Go 1.19, etcd and busybox from Debian's binary packages, the pause image's program.
# A later run finds the stamp and does nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cluster/common.sh
source "$here/common.sh"

COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
stamp=$CLUSTER_CACHE/stamp
want="recipe=2 kubernetes=$K8S_DEB_VERSION go=$GO_DEB busybox=$BUSYBOX_DEB etcd=$ETCD_DEB"
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi

install_node_packages

apt_dir=$CLUSTER_CACHE/apt
dl=$CLUSTER_CACHE/downloads
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$dl"
# An apt configuration of our own: bookworm's sources (the kubernetes source package) and
# trixie's busybox (bookworm's `wget -T` segfaults); the machine's own lists stay as they are.
cat >"$apt_dir/sources.list" <<EOF
deb-src http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian trixie main
EOF
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1
  -o APT::Sandbox::User=root)
log "fetching the kubernetes source package, Go, etcd and busybox"
apt-get "${apt_opts[@]}" update -qq
(cd "$dl" && apt-get "${apt_opts[@]}" source --download-only -qq "kubernetes=$K8S_DEB_VERSION")
(cd "$dl" && apt-get "${apt_opts[@]}" download -qq "golang-1.19-go=$GO_DEB" "golang-1.19-src=$GO_DEB" \
  "etcd-server=$ETCD_DEB" "etcd-client=$ETCD_DEB" "golang-github-modern-go-reflect2-dev=$REFLECT2_DEB" \
  "busybox-static=$BUSYBOX_DEB")

root=$CLUSTER_CACHE/root
rm -rf "$root"
mkdir -p "$root"
for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$root"; done

gopath=$CLUSTER_CACHE/gopath
tree=$gopath/src/k8s.io/kubernetes
if [[ ! -f $tree/.orderflow-prepared ]]; then
  rm -rf "$tree"
  mkdir -p "$tree"
  tar -xzf "$dl"/kubernetes_*.orig.tar.gz -C "$tree" --strip-components=1
  # reflect2 1.0.1 makes kube-apiserver segfault under Go >= 1.18 (on a server-side-apply
  # patch); Debian's 1.0.2 is API-compatible.
  rm -rf "$tree/vendor/github.com/modern-go/reflect2"
  cp -r "$root/usr/share/gocode/src/github.com/modern-go/reflect2" "$tree/vendor/github.com/modern-go/reflect2"
  touch "$tree/.orderflow-prepared"
fi

export GOROOT=$root/usr/lib/go-1.19
export PATH=$GOROOT/bin:$PATH
export GOPATH=$gopath GOCACHE=$CLUSTER_CACHE/go-build
export GO111MODULE=off CGO_ENABLED=0

if [[ ! -f $tree/pkg/generated/openapi/zz_generated.openapi.go ]]; then
  log "generating the API server's OpenAPI definitions"
  (cd "$tree" && make gen_openapi >"$CLUSTER_CACHE/gen_openapi.log" 2>&1) || {
    tail -30 "$CLUSTER_CACHE/gen_openapi.log" >&2
    exit 1
  }
fi

# The version the server reports (helm checks a chart's kubeVersion against it), in both
# packages that hold it, as hack/lib/version.sh sets them.
ldflags="-s -w"
for pkg in vendor/k8s.io/component-base/version vendor/k8s.io/client-go/pkg/version; do
  for setting in gitVersion=v$K8S_VERSION gitMajor=1 gitMinor=$(cut -d. -f2 <<<"$K8S_VERSION") \
    gitTreeState=clean; do
    ldflags+=" -X k8s.io/kubernetes/$pkg.$setting"
  done
done
mkdir -p "$CLUSTER_CACHE/bin"
for component in "${COMPONENTS[@]}"; do
  log "building $component"
  (cd "$tree" && go build -ldflags "$ldflags" -o "$CLUSTER_CACHE/bin/$component" \
    "k8s.io/kubernetes/cmd/$component")
done
cp "$root/usr/bin/etcd" "$root/usr/bin/busybox" "$CLUSTER_CACHE/bin/"

log "building the pause program"
gcc -Os -static -Wall -Werror -DVERSION="v$PAUSE_VERSION-orderflow" \
  -o "$CLUSTER_CACHE/bin/pause" "$tree/build/pause/linux/pause.c"

echo "$want" >"$stamp"
log "built into $CLUSTER_CACHE"
