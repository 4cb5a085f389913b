"""The chart's behaviour, rendered offline with `helm template`: one test per defect found
when it was first installed on a real cluster, and the restricted Pod Security profile of
every pod the project ships. Run from the project root with the test tools' Python:
  .tools/venv/bin/python -m unittest scripts/test_chart.py
"""
import glob
import json
import re
import subprocess
import tempfile
import unittest
from pathlib import Path

import yaml

HELM = ".tools/bin/helm"
CHART = "charts/orderflow"
PRODUCTION = {
    "mongo.uri": "mongodb://mongo.example:27017/orderflow",
    "aws.sqs.queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
    "aws.ses.senderEmail": "orders@shop.example.com",
    "secrets.jwtSecret": "a-production-jwt-secret-of-32-bytes-at-least",
}


def render(*args, release="orderflow", namespace="orderflow", values=None, chart=CHART, check=True):
    """The documents `helm template` renders, or the CompletedProcess when check is False."""
    command = [HELM, "template", release, chart, "--namespace", namespace, *args]
    for key, value in (values or {}).items():
        if isinstance(value, str):
            command += ["--set-string", f"{key}={value}"]
        else:
            command += ["--set", f"{key}={json.dumps(value)}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if not check:
        return done
    if done.returncode != 0:
        raise AssertionError(f"helm template failed: {done.stderr}")
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_specs(docs):
    """(where, pod spec) of every workload among the documents."""
    for d in docs:
        kind = d.get("kind")
        where = f"{kind} {d.get('metadata', {}).get('name')}"
        if kind == "Pod":
            yield where, d["spec"]
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            yield where, d["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield where, d["spec"]["jobTemplate"]["spec"]["template"]["spec"]


RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}


def restricted_violations(pod):
    """What breaks the restricted Pod Security Standard (Kubernetes' own list of checks)."""
    found = []
    psc = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            found.append(flag)
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']} of type {kinds - RESTRICTED_VOLUMES}")
    if psc.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    if any(not s.get("name", "").startswith(("kernel.shm_", "net.ipv4.ip_local_port_range",
                                              "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
                                              "net.ipv4.ip_unprivileged_port_start"))
           for s in psc.get("sysctls", [])):
        found.append("unsafe sysctls")
    for container in pod.get("initContainers", []) + pod["containers"]:
        at = f"container {container['name']}"
        sc = container.get("securityContext", {})
        if sc.get("privileged"):
            found.append(f"{at}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{at}: allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            found.append(f"{at}: capabilities do not drop ALL")
        if set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{at}: adds capabilities")
        if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
            found.append(f"{at}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            found.append(f"{at}: runAsUser 0")
        seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{at}: seccompProfile is {seccomp}")
        if any(p.get("hostPort") for p in container.get("ports", [])):
            found.append(f"{at}: hostPort")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"{at}: procMount")
    return found


class NoValues(unittest.TestCase):
    """`helm install` with no values at all is a working demo: the embedded store."""

    def test_one_serve_pod_on_the_embedded_store(self):
        docs = render()
        deployments = by_kind(docs, "Deployment")
        self.assertEqual(list(deployments), ["orderflow-api"], "only the serve Deployment")
        api = deployments["orderflow-api"]
        self.assertEqual(api["spec"]["replicas"], 1)
        self.assertEqual(api["spec"]["strategy"], {"type": "Recreate"})
        pod = api["spec"]["template"]["spec"]
        self.assertEqual(pod["containers"][0]["command"], ["/usr/local/bin/orderflow", "serve"])
        data = next(v for v in pod["volumes"] if v["name"] == "data")
        self.assertIn("emptyDir", data)
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        self.assertNotIn("MONGO_URI", env)
        self.assertTrue(env["JWT_SECRET"]["valueFrom"]["secretKeyRef"]["optional"])
        config = by_kind(docs, "ConfigMap")["orderflow"]["data"]
        self.assertEqual(config["SEED_DEMO_CATALOG"], "true")
        for key in ("SQS_QUEUE_URL", "SES_SENDER_EMAIL", "AWS_ENDPOINT_URL"):
            self.assertNotIn(key, config)
        self.assertEqual(by_kind(docs, "Secret")["orderflow"]["data"], None)
        self.assertFalse(by_kind(docs, "ScaledObject") or by_kind(docs, "Role"))

    def test_persistence_is_a_claim(self):
        docs = render(values={"persistence.enabled": True, "persistence.size": "5Gi"})
        claim = by_kind(docs, "PersistentVolumeClaim")["orderflow-data"]
        self.assertEqual(claim["spec"]["resources"]["requests"]["storage"], "5Gi")
        pod = by_kind(docs, "Deployment")["orderflow-api"]["spec"]["template"]["spec"]
        data = next(v for v in pod["volumes"] if v["name"] == "data")
        self.assertEqual(data["persistentVolumeClaim"]["claimName"], "orderflow-data")
        existing = render(values={"persistence.enabled": True, "persistence.existingClaim": "mine"})
        self.assertFalse(by_kind(existing, "PersistentVolumeClaim"))

    def test_more_than_one_pod_needs_mongodb(self):
        done = render(values={"api.autoscaling.enabled": True}, check=False)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("api.autoscaling needs MongoDB", done.stderr)


class Names(unittest.TestCase):
    def test_the_longest_release_name_gives_valid_distinct_names(self):
        release = "shop-" + "x" * 48
        self.assertEqual(len(release), 53, "the longest release name helm allows")
        docs = render(release=release, values=PRODUCTION)
        names = [(d["kind"], d["metadata"]["name"]) for d in docs]
        self.assertEqual(len(names), len(set(names)), "two objects share a name")
        label = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
        for kind, name in names:
            if kind in ("Service", "Deployment", "Pod", "ConfigMap", "Secret"):
                self.assertTrue(len(name) <= 63 and label.match(name), f"{kind} {name}")
        services = by_kind(docs, "Service")
        self.assertEqual(len(services), 3)
        self.assertTrue(all(n.endswith(("-api", "-worker", "-controller")) for n in services))

    def test_cluster_roles_are_named_per_namespace(self):
        values = {**PRODUCTION, "controller.watchAllNamespaces": True}
        first = by_kind(render(namespace="shop", values=values), "ClusterRole")
        second = by_kind(render(namespace="shop-staging", values=values), "ClusterRole")
        self.assertTrue(first and second)
        self.assertFalse(set(first) & set(second), "the same ClusterRole name in two namespaces")
        binding = next(iter(by_kind(render(namespace="shop", values=values), "ClusterRoleBinding").values()))
        self.assertEqual(binding["roleRef"]["name"], next(iter(first)))


class Subchart(unittest.TestCase):
    def test_globals_are_accepted(self):
        render(values={"global.imageRegistry": "registry.example"})

    def test_as_a_dependency_of_another_chart(self):
        with tempfile.TemporaryDirectory() as parent:
            Path(parent, "Chart.yaml").write_text(yaml.safe_dump({
                "apiVersion": "v2", "name": "shop", "version": "1.0.0",
                "dependencies": [{"name": "orderflow", "version": "*",
                                  "repository": f"file://{Path(CHART).resolve()}"}]}))
            Path(parent, "values.yaml").write_text(yaml.safe_dump({"global": {"env": "staging"}}))
            subprocess.run([HELM, "dependency", "update", parent], check=True, capture_output=True)
            docs = render(chart=parent, release="shop")
            self.assertIn("shop-orderflow-api", by_kind(docs, "Deployment"))


class Rollout(unittest.TestCase):
    def annotations(self, values):
        deployments = by_kind(render(values=values), "Deployment")
        return {n: d["spec"]["template"]["metadata"].get("annotations", {}) for n, d in deployments.items()}

    def test_a_changed_secret_rolls_every_pod_that_reads_it(self):
        before = self.annotations(PRODUCTION)
        for key, value in [("mongo.uri", "mongodb://other:27017/orderflow"),
                           ("redis.url", "redis://cache:6379"),
                           ("secrets.awsSecretAccessKey", "rotated"),
                           ("secrets.jwtSecret", "another-production-secret-of-32-bytes-at-least")]:
            after = self.annotations({**PRODUCTION, key: value})
            for name in ("orderflow-api", "orderflow-worker"):
                self.assertNotEqual(before[name]["checksum/secret"], after[name]["checksum/secret"],
                                    f"{name} keeps running on the old {key}")
                self.assertEqual(before[name]["checksum/config"], after[name]["checksum/config"])

    def test_rendering_twice_gives_the_same_release(self):
        for values in ({}, PRODUCTION):
            self.assertEqual(render(values=values), render(values=values))

    def test_mongodb_without_a_jwt_secret_is_refused_instead_of_generated(self):
        values = {k: v for k, v in PRODUCTION.items() if k != "secrets.jwtSecret"}
        done = render(values=values, check=False)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("secrets.jwtSecret (or secrets.existingSecret) is required", done.stderr)
        render(values={**values, "secrets.existingSecret": "mine"})


class Keda(unittest.TestCase):
    def trigger_auth(self, **auth):
        values = {**PRODUCTION, "worker.keda.enabled": True}
        values.update({f"worker.keda.auth.{k}": v for k, v in auth.items()})
        return render(values=values, check=False)

    def test_role_arn_and_identity_owner_are_never_rendered_together(self):
        docs = self.trigger_auth(roleArn="arn:aws:iam::1:role/keda")
        self.assertEqual(docs.returncode, 0, docs.stderr)
        auth = by_kind([d for d in yaml.safe_load_all(docs.stdout) if d], "TriggerAuthentication")
        identity = next(iter(auth.values()))["spec"]["podIdentity"]
        self.assertEqual(identity, {"provider": "aws", "roleArn": "arn:aws:iam::1:role/keda"})
        refused = self.trigger_auth(roleArn="arn:aws:iam::1:role/keda", identityOwner="workload")
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("don't meet the specifications of the schema", refused.stderr)

    def test_secret_mode_needs_keys_the_secret_holds(self):
        refused = self.trigger_auth(mode="secret")
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("don't meet the specifications of the schema", refused.stderr)
        values = {**PRODUCTION, "worker.keda.enabled": True, "worker.keda.auth.mode": "secret",
                  "secrets.awsAccessKeyId": "AKIA", "secrets.awsSecretAccessKey": "key"}
        docs = render(values=values)
        secret = by_kind(docs, "Secret")["orderflow"]["data"]
        auth = next(iter(by_kind(docs, "TriggerAuthentication").values()))
        for ref in auth["spec"]["secretTargetRef"]:
            self.assertEqual(ref["name"], "orderflow")
            self.assertIn(ref["key"], secret)
        render(values={**PRODUCTION, "worker.keda.enabled": True, "worker.keda.auth.mode": "secret",
                       "secrets.existingSecret": "mine"})


class Kind(unittest.TestCase):
    def test_the_kind_values_name_services_the_keda_operator_resolves(self):
        docs = render("--values", "k8s/kind-values.yaml")
        config = by_kind(docs, "ConfigMap")["orderflow"]["data"]
        queue = by_kind(docs, "ScaledObject")["orderflow-worker"]["spec"]["triggers"][0]["metadata"]
        for url in (config["SQS_QUEUE_URL"], config["AWS_ENDPOINT_URL"], queue["queueURL"], queue["awsEndpoint"]):
            self.assertRegex(url, r"^http://[a-z0-9-]+\.orderflow\.svc\.cluster\.local:")

    def test_seed_jobs_get_the_release_store_settings(self):
        docs = render(values=PRODUCTION)
        controller = by_kind(docs, "Deployment")["orderflow-controller"]
        env = {e["name"]: e.get("value") for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
        self.assertIn(env["SEED_CONFIG_MAP"], by_kind(docs, "ConfigMap"))
        self.assertIn(env["SEED_SECRET"], by_kind(docs, "Secret"))
        for path in glob.glob("k8s/examples/*.yaml"):
            for doc in (d for d in yaml.safe_load_all(Path(path).read_text()) if d):
                self.assertNotIn("namespace", doc["metadata"], path)


class Monitoring(unittest.TestCase):
    def test_objects_carry_the_label_the_documented_prometheus_selects(self):
        readme = Path("k8s/README.md").read_text()
        release = re.search(r"helm upgrade --install (\S+) kube-prometheus-stack", readme).group(1)
        docs = render(values={**PRODUCTION, "monitoring.serviceMonitor.enabled": True,
                              "monitoring.prometheusRule.enabled": True})
        objects = list(by_kind(docs, "ServiceMonitor").values()) + list(by_kind(docs, "PrometheusRule").values())
        self.assertEqual(len(objects), 4)
        for obj in objects:
            self.assertEqual(obj["metadata"]["labels"].get("release"), release, obj["metadata"]["name"])
        # The alert rules and dashboards tell releases apart by namespace and job.
        for monitor in by_kind(docs, "ServiceMonitor").values():
            self.assertEqual(monitor["spec"]["jobLabel"], "app.kubernetes.io/instance")

    def test_the_lease_is_the_release_s_own(self):
        docs = render(values=PRODUCTION)
        lease = by_kind(docs, "Lease")["orderflow-controller"]
        controller = by_kind(docs, "Deployment")["orderflow-controller"]
        env = {e["name"]: e.get("value") for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
        self.assertEqual(env["LEASE_NAME"], lease["metadata"]["name"])


class Images(unittest.TestCase):
    def test_base_images_are_pinned_by_digest(self):
        text = Path("Dockerfile").read_text()
        stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.M | re.I))
        bases = [b for b in re.findall(r"^FROM\s+(\S+)", text, re.M | re.I) if b not in stages]
        self.assertEqual(len(bases), 2, bases)
        for base in bases:
            self.assertRegex(base, r"^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$")


class PodSecurity(unittest.TestCase):
    def test_every_pod_meets_the_restricted_profile(self):
        sources = {path: [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
                   for path in sorted(glob.glob("k8s/dev/*.yaml"))}
        sources["chart defaults"] = render()
        sources["chart production"] = render(values={**PRODUCTION, "worker.keda.enabled": True})
        checked = 0
        for source, docs in sources.items():
            for where, pod in pod_specs(docs):
                checked += 1
                self.assertEqual(restricted_violations(pod), [], f"{source} {where}")
        self.assertGreaterEqual(checked, 8)

    def test_the_checker_refuses_what_the_profile_refuses(self):
        good = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{"name": "c", "securityContext": {
                    "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}
        self.assertEqual(restricted_violations(good), [])
        for breaking in ({"hostNetwork": True}, {"volumes": [{"name": "h", "hostPath": {"path": "/"}}]},
                         {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
                         {"containers": [{"name": "c", "securityContext": {"capabilities": {"drop": ["ALL"]}}}]}):
            self.assertNotEqual(restricted_violations({**good, **breaking}), [], breaking)


if __name__ == "__main__":
    unittest.main()
