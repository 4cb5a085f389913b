"""Checks on the chart's rendered manifests, beyond what kubernetes-validate sees.

usage: check_chart.py RENDERED_DIR CRD_YAML
RENDERED_DIR holds one `helm template` output per values file (NAME.yaml). CRD_YAML is what
`orderflow crd` prints. Exits non-zero naming every problem found.
"""
import glob
import os
import sys

import pydantic
import yaml
from cloudcoil.models.keda import v1alpha1 as keda
from cloudcoil.models.prometheus_operator import v1 as monitoring

CHART = "charts/orderflow"
problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def forbid_unknown_fields():
    """Every cloudcoil model refuses fields it does not define (extra="forbid")."""
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    models = {m for m in subclasses(pydantic.BaseModel) if m.__module__.startswith("cloudcoil")}
    for model in models:
        model.model_config["extra"] = "forbid"
    # Twice, so models embedding others pick up their rebuilt schemas.
    for _ in range(2):
        for model in models:
            model.model_rebuild(force=True)
    # The setting took: an unknown field deep inside a ScaledObject is refused.
    probe = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "p"},
             "spec": {"scaleTargetRef": {"name": "w"},
                      "triggers": [{"type": "cpu", "metadata": {}, "unknownField": 1}]}}
    try:
        keda.ScaledObject.model_validate(probe)
    except pydantic.ValidationError:
        return
    sys.exit("cloudcoil models accept unknown fields: the extra=forbid setting did not apply")


MODELS = {
    ("keda.sh/v1alpha1", "ScaledObject"): keda.ScaledObject,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): keda.TriggerAuthentication,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring.ServiceMonitor,
    ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring.PrometheusRule,
}


def seconds(raw):
    assert raw.endswith("s"), raw
    return int(raw[:-1])


def mebibytes(quantity):
    """A Kubernetes memory quantity in MiB (the suffixes the chart uses)."""
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for suffix in sorted(units, key=len, reverse=True):
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * units[suffix]
    return float(quantity) / 2**20


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def check_pod(where, pod, needs_probes=True):
    security = pod.get("securityContext", {})
    if security.get("runAsNonRoot") is not True:
        problem(where, "pod securityContext.runAsNonRoot is not true")
    if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem(where, "pod seccompProfile is not RuntimeDefault")
    for container in pod["containers"]:
        at = f"{where} container {container['name']}"
        sc = container.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problem(at, "allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problem(at, "readOnlyRootFilesystem is not true")
        if sc.get("privileged"):
            problem(at, "privileged")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problem(at, "capabilities do not drop ALL")
        resources = container.get("resources", {})
        if not resources.get("requests") or not resources.get("limits", {}).get("memory"):
            problem(at, "resources lack requests or a memory limit")
        if container["image"].endswith(":latest") or ":" not in container["image"]:
            problem(at, f"image {container['image']} is not pinned to a tag")
        if needs_probes:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if probe not in container:
                    problem(at, f"no {probe}")


def check_release(name, docs):
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
        model = MODELS.get((doc["apiVersion"], doc["kind"]))
        if model is not None:
            try:
                model.model_validate(doc)
            except pydantic.ValidationError as e:
                problem(f"{name} {doc['kind']} {doc['metadata']['name']}", str(e))
    deployments = by_kind.get("Deployment", {})
    for deployment in deployments.values():
        where = f"{name} Deployment {deployment['metadata']['name']}"
        pod = deployment["spec"]["template"]["spec"]
        check_pod(where, pod)
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        if component in ("api", "worker") and pod.get("automountServiceAccountToken") is not False:
            problem(where, "mounts a service account token it never uses")
        if component == "api":
            # A Redis outage must not take every API pod out of its Service.
            if "cache" not in (env_of(pod["containers"][0]).get("READINESS_OPTIONAL") or "").split(","):
                problem(where, "readiness does not treat the cache as optional")
            # Left unset, the hashing threads follow the node's cores, and so does the memory
            # a login flood takes (7 MiB a hash): it must fit the limit beside the request's.
            threads = env_of(pod["containers"][0]).get("PASSWORD_HASH_THREADS")
            memory = {kind: amounts.get("memory")
                      for kind, amounts in pod["containers"][0].get("resources", {}).items()}
            if threads is None:
                problem(where, "PASSWORD_HASH_THREADS is not set")
            elif memory.get("requests") and memory.get("limits") and \
                    int(threads) * 7 + mebibytes(memory["requests"]) > mebibytes(memory["limits"]):
                problem(where, f"{threads} hashes of 7 MiB do not fit the memory limit beside the request")
        if component == "worker":
            deadline = seconds(env_of(pod["containers"][0])["WORKER_SHUTDOWN_DEADLINE"])
            if pod["terminationGracePeriodSeconds"] <= deadline:
                problem(where, "terminationGracePeriodSeconds is not longer than the worker's deadline")
    for pod in by_kind.get("Pod", {}).values():
        check_pod(f"{name} Pod {pod['metadata']['name']}", pod["spec"], needs_probes=False)
        if pod["metadata"].get("annotations", {}).get("helm.sh/hook") != "test":
            problem(f"{name} Pod {pod['metadata']['name']}", "a bare Pod that is not a helm test hook")

    # Scalers point at Deployments that leave their replica count to them.
    for scaled in by_kind.get("ScaledObject", {}).values():
        target = deployments.get(scaled["spec"]["scaleTargetRef"]["name"])
        if target is None or "replicas" in target["spec"]:
            problem(name, "the ScaledObject's target is missing or sets replicas itself")
        trigger = scaled["spec"]["triggers"][0]
        queue_url = next(c for c in by_kind["ConfigMap"].values() if "SQS_QUEUE_URL" in c["data"])
        if trigger["metadata"]["queueURL"] != queue_url["data"]["SQS_QUEUE_URL"]:
            problem(name, "KEDA watches another queue than the workers read")
        auth = trigger["authenticationRef"]["name"]
        if auth not in by_kind.get("TriggerAuthentication", {}):
            problem(name, f"the trigger's TriggerAuthentication {auth} is not rendered")
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        target = deployments.get(hpa["spec"]["scaleTargetRef"]["name"])
        if target is None or "replicas" in target["spec"]:
            problem(name, "the HPA's target is missing or sets replicas itself")

    # ServiceMonitors select a Service that has the port they scrape.
    services = by_kind.get("Service", {}).values()
    for monitor in by_kind.get("ServiceMonitor", {}).values():
        wanted = monitor["spec"]["selector"]["matchLabels"]
        port = monitor["spec"]["endpoints"][0]["port"]
        if not any(wanted.items() <= s["metadata"]["labels"].items()
                   and port in [p["name"] for p in s["spec"]["ports"]] for s in services):
            problem(name, f"ServiceMonitor {monitor['metadata']['name']} selects no Service with port {port}")

    # What the chart packages is what dashboards/ holds and promtool checked.
    with open("dashboards/alerts/orderflow.rules.yaml") as f:
        alerts = yaml.safe_load(f)
    for rule in by_kind.get("PrometheusRule", {}).values():
        if rule["spec"]["groups"] != alerts["groups"]:
            problem(name, "the PrometheusRule's groups differ from dashboards/alerts")
    dashboards = {}
    for cm in by_kind.get("ConfigMap", {}).values():
        for key, text in cm.get("data", {}).items():
            if key.endswith(".json"):
                dashboards[key] = text
    if dashboards:
        for path in glob.glob("dashboards/*.json"):
            with open(path) as f:
                expected = f.read().rstrip("\n")
            if dashboards.get(os.path.basename(path)) != expected:
                problem(name, f"dashboard ConfigMap for {path} differs from the file")


def main():
    rendered_dir, crd_path = sys.argv[1], sys.argv[2]
    forbid_unknown_fields()

    with open(crd_path) as f:
        crd = f.read()
    with open(f"{CHART}/crds/inventoryseeds.orderflow.dev.yaml") as f:
        if f.read() != crd:
            problem(CHART, "crds/inventoryseeds.orderflow.dev.yaml differs from `orderflow crd`")
    for source, copy in [("dashboards/alerts/orderflow.rules.yaml", f"{CHART}/files/alerts/orderflow.rules.yaml")] + [
        (path, f"{CHART}/files/dashboards/{os.path.basename(path)}") for path in glob.glob("dashboards/*.json")
    ]:
        with open(source, "rb") as a, open(copy, "rb") as b:
            if a.read() != b.read():
                problem(copy, f"differs from {source}")
    packaged = {os.path.basename(p) for p in glob.glob(f"{CHART}/files/dashboards/*.json")}
    if packaged != {os.path.basename(p) for p in glob.glob("dashboards/*.json")}:
        problem(CHART, "files/dashboards holds other dashboards than dashboards/")

    releases = sorted(glob.glob(f"{rendered_dir}/*.yaml"))
    if len(releases) < 4:
        problem(rendered_dir, "fewer than four rendered values files")
    for path in releases:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        check_release(os.path.basename(path), docs)
        print(f"{os.path.basename(path)}: {len(docs)} objects checked")

    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(f"{len(problems)} problem(s) in the chart")


if __name__ == "__main__":
    main()
