#!/usr/bin/env bash
# Puts images into the test cluster's containerd (no registry: written as docker-archive tars
# by image.py and imported).
#   images.sh base              the pause image and busybox (built by build.sh)
#   images.sh orderflow BINARY  the api, worker and controller images of a release binary,
#                               tagged as the chart expects (image.registry, appVersion)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cluster/common.sh
source "$here/common.sh"
top=$(cd "$here/../.." && pwd)

import() {
  ctr --address "$CLUSTER_RUN/containerd/containerd.sock" -n k8s.io images import "$@" >/dev/null
}
out=$CLUSTER_RUN/images
mkdir -p "$out"
case ${1:-} in
  base)
    python3 "$here/image.py" pause "$out/pause.tar" "$CLUSTER_CACHE/bin/pause" "$PAUSE_IMAGE"
    python3 "$here/image.py" busybox "$out/busybox.tar" "$CLUSTER_CACHE/bin/busybox"
    import "$out/pause.tar"
    import "$out/busybox.tar"
    ;;
  orderflow)
    binary=${2:?usage: images.sh orderflow BINARY}
    registry=$(sed -n 's/^  registry: *//p' "$top/charts/orderflow/values.yaml")
    tag=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$top/charts/orderflow/Chart.yaml")
    python3 "$here/image.py" orderflow "$out" "$binary" "$registry" "$tag" "$top/Dockerfile" >&2
    for target in api worker controller; do import "$out/orderflow-$target.tar"; done
    ;;
  *)
    sed -n '2,7p' "$0" >&2
    exit 2
    ;;
esac
