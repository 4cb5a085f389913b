"""skaffold.yaml, checked as far as can be offline (no skaffold schema ships in a package
registry): the fields it uses are the ones skaffold/v4beta13 defines, at the places it
defines them, and every reference resolves: Dockerfile targets, the chart, values files,
the chart values the image templates set, the manifests of each profile and the Service the
port-forward names. Then the kind walk-through agrees with itself: skaffold.yaml, the kind
values, k8s/dev, k8s/examples and k8s/README.md name one namespace, and the services the
kind values point at are k8s/dev's, named in full (the KEDA operator resolves them from its
own namespace).
"""
import glob
import re
import subprocess
import sys
from urllib.parse import urlparse

import yaml

problems = []

# The part of the skaffold/v4beta13 config this project uses: each mapping's allowed keys.
ALLOWED = {
    "": {"apiVersion", "kind", "metadata", "build", "deploy", "manifests", "portForward", "profiles"},
    "metadata": {"name"},
    "build": {"local", "tagPolicy", "artifacts"},
    "build.local": {"push", "useBuildkit", "concurrency", "tryImportMissing"},
    "build.tagPolicy": {"gitCommit", "sha256", "envTemplate", "dateTime", "inputDigest"},
    "build.artifacts[]": {"image", "context", "docker"},
    "build.artifacts[].docker": {"dockerfile", "target", "buildArgs"},
    "deploy": {"helm", "kubectl"},
    "deploy.helm": {"releases"},
    "deploy.helm.releases[]": {"name", "chartPath", "valuesFiles", "setValueTemplates",
                               "skipBuildDependencies", "namespace", "createNamespace", "wait"},
    "manifests": {"rawYaml"},
    "portForward[]": {"resourceType", "resourceName", "port", "localPort", "namespace"},
    "profiles[]": {"name", "manifests", "deploy", "activation"},
}


def walk(node, path):
    if isinstance(node, dict):
        allowed = ALLOWED.get(path)
        if allowed is not None:
            for key in node:
                if key not in allowed:
                    problems.append(f"skaffold.yaml: {path or '(top)'}.{key} is not a field used here")
        for key, value in node.items():
            child = f"{path}.{key}" if path else key
            if path.startswith("profiles[]"):
                child = child.replace("profiles[].", "", 1)
            walk(value, child)
    elif isinstance(node, list):
        for item in node:
            walk(item, f"{path}[]")


def main():
    with open("skaffold.yaml") as f:
        config = yaml.safe_load(f)
    if config.get("apiVersion") != "skaffold/v4beta13" or config.get("kind") != "Config":
        problems.append("skaffold.yaml: not a skaffold/v4beta13 Config")
    walk(config, "")

    with open("Dockerfile") as f:
        targets = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", f.read(), re.MULTILINE | re.IGNORECASE))
    images = set()
    for artifact in config["build"]["artifacts"]:
        images.add(artifact["image"])
        if artifact["docker"]["target"] not in targets:
            problems.append(f"artifact {artifact['image']}: no Dockerfile target {artifact['docker']['target']}")
    if config["build"]["local"].get("push") is not False:
        problems.append("build.local.push is not false: images must be loaded into kind, not pushed")

    for release in config["deploy"]["helm"]["releases"]:
        chart = release["chartPath"]
        args = ["helm", "template", release["name"], chart]
        for values in release.get("valuesFiles", []):
            if not glob.glob(values):
                problems.append(f"release {release['name']}: no values file {values}")
            args += ["--values", values]
        for key, template in release.get("setValueTemplates", {}).items():
            name = re.fullmatch(r"\{\{\.IMAGE_FULLY_QUALIFIED_(\w+)\}\}", template)
            if not name or name.group(1) not in {re.sub(r"\W", "_", i) for i in images}:
                problems.append(f"release {release['name']}: {key} names no built image")
            args += ["--set", f"{key}=example/{key}:dev"]
        rendered = subprocess.run([".tools/bin/" + args[0]] + args[1:], check=True,
                                  capture_output=True, text=True).stdout
        docs = [d for d in yaml.safe_load_all(rendered) if d]
        used = {c["image"] for d in docs if d["kind"] == "Deployment"
                for c in d["spec"]["template"]["spec"]["containers"]}
        for key in release.get("setValueTemplates", {}):
            if f"example/{key}:dev" not in used:
                problems.append(f"release {release['name']}: setting {key} changes no Deployment's image")
        services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
        for forward in config.get("portForward", []):
            service = services.get(forward["resourceName"])
            if service is None or forward["port"] not in [p["port"] for p in service["spec"]["ports"]]:
                problems.append(f"portForward: no Service {forward['resourceName']} with port {forward['port']}")

    for profile in config.get("profiles", []):
        for pattern in profile.get("manifests", {}).get("rawYaml", []):
            if not glob.glob(pattern):
                problems.append(f"profile {profile['name']}: {pattern} matches no file")

    check_kind_walkthrough(config)
    if problems:
        sys.exit("\n".join(problems))
    print(f"skaffold.yaml: {len(images)} artifacts, every reference resolves")


def check_kind_walkthrough(config):
    releases = config["deploy"]["helm"]["releases"]
    namespaces = {r.get("namespace") for r in releases}
    if len(namespaces) != 1 or None in namespaces:
        problems.append("skaffold.yaml: every helm release must name the one namespace")
        return
    (namespace,) = namespaces
    if not all(r.get("createNamespace") for r in releases):
        problems.append("skaffold.yaml: a release does not create its namespace")
    for forward in config.get("portForward", []):
        if forward.get("namespace") != namespace:
            problems.append(f"portForward {forward['resourceName']}: not in namespace {namespace}")
    for profile in config.get("profiles", []):
        kubectl = profile.get("deploy", {}).get("kubectl")
        if kubectl is not None and kubectl.get("defaultNamespace") != namespace:
            problems.append(f"profile {profile['name']}: kubectl deploys outside {namespace}")

    dev = [d for f in sorted(glob.glob("k8s/dev/*.yaml")) for d in yaml.safe_load_all(open(f)) if d]
    dev_services = {d["metadata"]["name"]: d for d in dev if d["kind"] == "Service"}
    for d in dev + [d for f in glob.glob("k8s/examples/*.yaml") for d in yaml.safe_load_all(open(f)) if d]:
        if "namespace" in d["metadata"]:
            problems.append(f"{d['kind']} {d['metadata']['name']}: names a namespace; "
                            "skaffold and `kubectl apply -n` choose it")
    for d in glob.glob("k8s/examples/*.yaml"):
        for seed in (x for x in yaml.safe_load_all(open(d)) if x and x["kind"] == "InventorySeed"):
            if seed["spec"].get("envFrom"):
                problems.append(f"{d}: names a Secret of its own; the controller gives seeding "
                                "Jobs the release's settings")

    values = yaml.safe_load(open(releases[0]["valuesFiles"][0]))
    urls = {
        "mongo.uri": values.get("mongo", {}).get("uri", ""),
        "redis.url": values.get("redis", {}).get("url", ""),
        "aws.endpointUrl": values.get("aws", {}).get("endpointUrl", ""),
        "aws.sqs.queueUrl": values.get("aws", {}).get("sqs", {}).get("queueUrl", ""),
    }
    suffix = f".{namespace}.svc.cluster.local"
    for key, url in urls.items():
        host = urlparse(url).hostname or ""
        if not host.endswith(suffix) or host[: -len(suffix)] not in dev_services:
            problems.append(f"kind values {key} ({url}): not a k8s/dev Service named in full "
                            f"(<service>{suffix})")
    localstack_env = {e["name"]: e.get("value") for d in dev if d["kind"] == "Deployment"
                      and d["metadata"]["name"] == "localstack"
                      for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
    queue_host = urlparse(urls["aws.sqs.queueUrl"]).netloc
    if localstack_env.get("LOCALSTACK_HOST") != queue_host:
        problems.append(f"k8s/dev/localstack.yaml LOCALSTACK_HOST is not the queue URL's host {queue_host}")

    readme = open("k8s/README.md").read()
    if f"kubectl apply -n {namespace} -f k8s/examples/" not in readme:
        problems.append(f"k8s/README.md: the examples are not applied to namespace {namespace}")


if __name__ == "__main__":
    main()
