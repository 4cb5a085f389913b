#!/usr/bin/env python3
"""Writes container images as docker-archive tars, for `ctr images import`, without a
registry or a Docker engine.

  image.py pause OUT BINARY REF        the pod sandbox image (containerd's sandbox_image)
  image.py busybox OUT BINARY          busybox:1.37, what the chart's `helm test` runs
  image.py orderflow OUTDIR BINARY REGISTRY TAG DOCKERFILE
                                       the api, worker and controller images, as the
                                       Dockerfile's targets of those names describe them

The orderflow images hold what the Dockerfile's distroless runtime holds for the binary: the
libraries `ldd` lists, CA certificates, and passwd/group entries for the non-root user.
"""

import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

NONROOT = 65532


class Layer:
    """One image layer, written deterministically (sorted, owner root, time zero)."""

    def __init__(self):
        self.entries = {}

    def dir(self, path, mode=0o755):
        parts = Path(path.strip("/")).parts
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in self.entries:
                info = tarfile.TarInfo(sub)
                info.type, info.mode = tarfile.DIRTYPE, mode
                self.entries[sub] = (info, None)

    def file(self, path, data, mode=0o644):
        path = path.strip("/")
        if "/" in path:
            self.dir(str(Path(path).parent))
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(data), mode
        self.entries[path] = (info, data)

    def copy(self, src, dst, mode=None):
        data = Path(src).read_bytes()
        self.file(dst, data, mode if mode is not None else (Path(src).stat().st_mode & 0o777))

    def symlink(self, path, target):
        path = path.strip("/")
        self.dir(str(Path(path).parent))
        info = tarfile.TarInfo(path)
        info.type, info.linkname = tarfile.SYMTYPE, target
        self.entries[path] = (info, None)

    def tar(self):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(self.entries):
                info, data = self.entries[name]
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data) if data is not None else None)
        return out.getvalue()


def write_archive(out, ref, layer, entrypoint, user="0:0", env=(), labels=None):
    """A docker-archive (the format `docker save` writes) with one layer and one tag."""
    layer_tar = layer.tar()
    diff_id = hashlib.sha256(layer_tar).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": user,
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", *env],
            "Entrypoint": entrypoint,
            "WorkingDir": "/",
            "Labels": labels or {},
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created_by": "scripts/cluster/image.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [f"{diff_id}/layer.tar"]}]
    with tarfile.open(out, "w") as tar:
        for name, data in (
            (f"{diff_id}/layer.tar", layer_tar),
            (config_name, config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def shared_libraries(binary):
    """The files `ldd` names for a dynamically linked binary, with the loader."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    return sorted({m for m in re.findall(r"(/\S+)", out)})


def dockerfile_targets(path):
    """Per target of the Dockerfile's runtime stages: entrypoint, user, env and labels,
    following `FROM <stage> AS <target>` back to the runtime stage."""
    stages, current = {}, None
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if m := re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.I):
            base, name = m.group(1), (m.group(2) or "").lower()
            current = {"base": base, "env": [], "user": None, "entrypoint": None}
            stages[name] = current
        elif current is None:
            continue
        elif m := re.match(r"ENTRYPOINT\s+(\[.*\])", line):
            current["entrypoint"] = json.loads(m.group(1))
        elif m := re.match(r"USER\s+(\S+)", line):
            current["user"] = m.group(1)
        elif m := re.match(r"ENV\s+(\S+)=(\S+)", line):
            current["env"].append(f"{m.group(1)}={m.group(2)}")

    def resolved(name, key):
        stage = stages.get(name)
        if stage is None:
            return None
        value = stage[key]
        if key == "env":
            return (resolved(stage["base"], "env") or []) + value
        return value if value is not None else resolved(stage["base"], key)

    return {
        name: {key: resolved(name, key) for key in ("entrypoint", "user", "env")}
        for name in ("api", "worker", "controller")
    }


def orderflow_layer(binary):
    layer = Layer()
    for lib in shared_libraries(binary):
        layer.copy(lib, lib)
    layer.copy(binary, "/usr/local/bin/orderflow", 0o755)
    layer.copy("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt")
    passwd = (
        "root:x:0:0:root:/root:/sbin/nologin\n"
        f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
    )
    layer.file("/etc/passwd", passwd.encode())
    layer.file("/etc/group", f"root:x:0:\nnonroot:x:{NONROOT}:\n".encode())
    layer.dir("/home/nonroot")
    layer.dir("/tmp", 0o1777)
    return layer


def main(argv):
    kind = argv[1]
    if kind == "pause":
        out, binary = argv[2:4]
        layer = Layer()
        layer.copy(binary, "/pause", 0o755)
        write_archive(out, argv[4], layer, ["/pause"], user="65535:65535")
    elif kind == "busybox":
        out, binary = argv[2:4]
        layer = Layer()
        layer.copy(binary, "/bin/busybox", 0o755)
        applets = subprocess.run([binary, "--list"], check=True, capture_output=True, text=True).stdout
        for applet in applets.split():
            if applet != "busybox":
                layer.symlink(f"/bin/{applet}", "busybox")
        layer.dir("/tmp", 0o1777)
        write_archive(out, "docker.io/library/busybox:1.37", layer, ["/bin/sh"])
    elif kind == "orderflow":
        outdir, binary, registry, tag, dockerfile = argv[2:7]
        layer = orderflow_layer(binary)
        for target, spec in dockerfile_targets(dockerfile).items():
            if not spec["entrypoint"]:
                sys.exit(f"{dockerfile}: no ENTRYPOINT for target {target}")
            ref = f"{registry}/orderflow-{target}:{tag}"
            write_archive(f"{outdir}/orderflow-{target}.tar", ref, layer, spec["entrypoint"],
                          user=spec["user"] or "0:0", env=spec["env"])
            print(ref)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
