"""The chart as users install it, on the test cluster (scripts/cluster/up.sh), used as they
use it: the demo with no values, then a production install against the test services on the
host (MongoDB, Redis, SQS and SES), seeded by the controller, upgraded, uninstalled.

Run by scripts/test-cluster.sh, which starts the cluster and the services and passes their
addresses in the environment: KUBECONFIG, KUBECTL, HELM, HOST_IP, CLUSTER_RUN, MONGO_URI,
REDIS_URL, AWS_ENDPOINT.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from datetime import datetime

import boto3
import yaml

KUBECTL = os.environ["KUBECTL"]
HELM = os.environ["HELM"]
HOST_IP = os.environ["HOST_IP"]
CLUSTER_RUN = Path(os.environ["CLUSTER_RUN"])
AWS_ENDPOINT = os.environ["AWS_ENDPOINT"]
CHART = Path("charts/orderflow")
# The longest release name helm allows (53), without "orderflow": its names are the longest.
DEMO_RELEASE = "demo-" + "x" * 48
SENDER = "orders@shop.test"

# What the 1.20 server forces on the chart, and nothing else: the chart users install is the
# one tested. The static checks at a current Kubernetes version run on the chart unchanged.
TEST_ONLY_CHANGES = [
    ("Chart.yaml", "kubeVersion: \">=1.29.0-0\"", "kubeVersion: \">=1.20.0-0\"",
     "the server is 1.20"),
    ("crds/inventoryseeds.orderflow.dev.yaml",
     re.compile(r"\n +x-kubernetes-validations:\n( +- .*\n +\S.*)+"), "",
     "CEL validation rules came with 1.25"),
    ("templates/pdb.yaml", "apiVersion: policy/v1\n", "apiVersion: policy/v1beta1\n",
     "policy/v1 came with 1.21"),
    ("templates/api-hpa.yaml", "apiVersion: autoscaling/v2\n", "apiVersion: autoscaling/v2beta2\n",
     "autoscaling/v2 came with 1.23"),
]

# Just enough of the third-party kinds for the server to accept the chart's objects; their
# schemas are checked offline (scripts/check-chart.sh).
THIRD_PARTY_KINDS = [
    ("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects"),
    ("keda.sh", "v1alpha1", "TriggerAuthentication", "triggerauthentications"),
    ("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"),
    ("monitoring.coreos.com", "v1", "PrometheusRule", "prometheusrules"),
]

passed = 0


def check(what, condition, detail=""):
    global passed
    if not condition:
        sys.exit(f"FAILED: {what}{': ' + str(detail) if detail else ''}")
    passed += 1
    print(f"ok - {what}", flush=True)


def run(*command, check=True, input=None):
    done = subprocess.run(command, capture_output=True, text=True, input=input)
    if check and done.returncode != 0:
        sys.exit(f"FAILED: {' '.join(command)}\n{done.stdout}\n{done.stderr}")
    return done


def kubectl(*args, **kwargs):
    return run(KUBECTL, *args, **kwargs)


def kubectl_json(*args):
    return json.loads(kubectl(*args, "-o", "json").stdout)


def helm(*args, **kwargs):
    return run(HELM, *args, **kwargs)


def eventually(what, probe, seconds=90, every=1.0, explain=None):
    """probe() until it is truthy; on failure, `explain()` says what stood in the way."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (OSError, ValueError, KeyError, IndexError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(every)
    detail = f"; {explain()}" if explain else ""
    sys.exit(f"FAILED: {what} within {seconds} s (last: {last!r}){detail}")


def chart_for_this_server(work):
    chart = Path(work) / "orderflow"
    shutil.copytree(CHART, chart)
    for path, old, new, why in TEST_ONLY_CHANGES:
        file = chart / path
        text = file.read_text()
        changed = old.sub(new, text) if isinstance(old, re.Pattern) else text.replace(old, new)
        if changed == text:
            sys.exit(f"FAILED: the test-only change to {path} ({why}) no longer applies")
        file.write_text(changed)
    return chart


def install_third_party_crds():
    for group, version, kind, plural in THIRD_PARTY_KINDS:
        crd = {
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                               "listKind": f"{kind}List"},
                     "versions": [{"name": version, "served": True, "storage": True, "schema": {
                         "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
        }
        kubectl("apply", "-f", "-", input=json.dumps(crd))
    for group, _, _, plural in THIRD_PARTY_KINDS:
        kubectl("wait", "--for=condition=Established", f"crd/{plural}.{group}")


class Api:
    """The API through its Service's cluster address, as a client in the cluster reaches it."""

    def __init__(self, namespace, service):
        spec = kubectl_json("-n", namespace, "get", "service", service)["spec"]
        port = next(p["port"] for p in spec["ports"] if p["name"] == "http")
        self.base = f"http://{spec['clusterIP']}:{port}"
        self.token = None

    def call(self, method, path, body=None, expect=200):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        if self.token:
            request.add_header("authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read().decode()
        if status != expect:
            raise ValueError(f"{method} {path}: {status} {text}")
        return json.loads(text) if text and text.lstrip().startswith(("{", "[")) else text

    def sign_up(self, email):
        self.call("POST", "/api/auth/register",
                  {"name": "Cluster Test", "email": email, "password": "correct horse battery"}, expect=201)
        login = self.call("POST", "/api/auth/login", {"email": email, "password": "correct horse battery"})
        self.token = login["accessToken"]

    def order_until_final(self, product_id):
        order = self.call("POST", "/api/orders", {"items": [{"productId": product_id, "quantity": 1}]},
                          expect=201)
        final = eventually(f"order {order['id']} PROCESSED",
                           lambda: (o := self.call("GET", f"/api/orders/{order['id']}"))["status"]
                           in ("PROCESSED", "FAILED") and o)
        check(f"order {order['id']} placed through the Service is PROCESSED",
              final["status"] == "PROCESSED", final)
        return final


def pods(namespace, component, release):
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/component={component}"
    return kubectl_json("-n", namespace, "get", "pods", "-l", selector)["items"]


def demo():
    namespace = "demo"
    chart = CHART_ON_SERVER
    helm("install", DEMO_RELEASE, str(chart), "--namespace", namespace, "--create-namespace",
         "--wait", "--timeout", "180s")
    deployments = kubectl_json("-n", namespace, "get", "deployments")["items"]
    check("no values: one Deployment, serve, Ready",
          [d["status"].get("readyReplicas") for d in deployments] == [1]
          and deployments[0]["spec"]["template"]["spec"]["containers"][0]["command"][-1] == "serve",
          [d["metadata"]["name"] for d in deployments])
    check("the 53-character release's names are accepted (Service of 63 at most)",
          all(len(s["metadata"]["name"]) <= 63
              for s in kubectl_json("-n", namespace, "get", "services")["items"]))
    tested = helm("test", DEMO_RELEASE, "--namespace", namespace, check=False)
    check("helm test passes", tested.returncode == 0, tested.stdout + tested.stderr)

    service = next(s["metadata"]["name"] for s in kubectl_json("-n", namespace, "get", "services")["items"]
                   if s["metadata"]["name"].endswith("-api"))
    api = Api(namespace, service)
    eventually("the demo API answers", lambda: api.call("GET", "/readyz") is not None)
    products = api.call("GET", "/api/inventory?limit=5")["items"]
    check("the demo catalog is in the embedded store", len(products) > 0)
    api.sign_up("demo@shop.test")
    order = api.order_until_final(products[0]["productId"])
    (pod,) = pods(namespace, "api", DEMO_RELEASE)
    mail = CLUSTER_RUN / "kubelet/root/pods" / pod["metadata"]["uid"] / "volumes/kubernetes.io~empty-dir/data/mail"
    emails = eventually("the order's email file",
                        lambda: [p for p in mail.glob("*.eml") if order["id"] in p.read_text()])
    check("its email is written in the pod's data volume", len(emails) == 1, emails)
    helm("uninstall", DEMO_RELEASE, "--namespace", namespace, "--wait")
    kubectl("delete", "namespace", namespace, "--wait=true")


def aws():
    return {"endpoint_url": AWS_ENDPOINT, "region_name": "us-east-1",
            "aws_access_key_id": "test", "aws_secret_access_key": "test"}


def ses_messages():
    """The emails the emulator's SES accepted (moto's record of them)."""
    with urllib.request.urlopen(f"{AWS_ENDPOINT}/moto-api/data.json", timeout=10) as response:
        sent = json.loads(response.read())["ses"]["Message"]
    return list(sent.values()) if isinstance(sent, dict) else sent


def production_values(work, queue_url, jwt_secret):
    values = {
        "mongo": {"uri": os.environ["MONGO_URI"]},
        "redis": {"url": os.environ["REDIS_URL"]},
        "aws": {"region": "us-east-1", "endpointUrl": AWS_ENDPOINT,
                "sqs": {"queueUrl": queue_url, "waitTimeSeconds": 1},
                "ses": {"senderEmail": SENDER}},
        "secrets": {"jwtSecret": jwt_secret, "awsAccessKeyId": "test", "awsSecretAccessKey": "test"},
        "api": {"replicas": 1},
        "worker": {"keda": {"enabled": True, "auth": {"mode": "secret"}}},
        "controller": {"watchAllNamespaces": True},
        "monitoring": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True},
                       "dashboards": {"enabled": True}},
    }
    path = Path(work) / f"production-{len(jwt_secret)}.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def production(work):
    namespace, release = "shop", "orderflow"
    sqs = boto3.client("sqs", **aws())
    dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName="orders", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"]
    boto3.client("sesv2", **aws()).create_email_identity(EmailIdentity=SENDER)
    values = production_values(work, queue_url, "a-jwt-secret-for-the-cluster-test-0123456789")
    helm("install", release, str(CHART_ON_SERVER), "--namespace", namespace, "--create-namespace",
         "--values", str(values), "--wait", "--timeout", "180s")
    ready = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d["status"].get("readyReplicas")
             for d in kubectl_json("-n", namespace, "get", "deployments")["items"]}
    check("production values: api, worker and controller Ready", ready == {"api": 1, "worker": 1, "controller": 1}, ready)
    kinds = {kind: len(kubectl_json("-n", namespace, "get", plural)["items"])
             for _, _, kind, plural in THIRD_PARTY_KINDS}
    check("the server accepted the ScaledObject, TriggerAuthentication, ServiceMonitors and PrometheusRule",
          kinds == {"ScaledObject": 1, "TriggerAuthentication": 1, "ServiceMonitor": 3, "PrometheusRule": 1}, kinds)

    # The controller seeds the release's store from the example as written.
    kubectl("apply", "-n", namespace, "-f", "k8s/examples/inventoryseed-inline.yaml")
    eventually("the InventorySeed Succeeded",
               lambda: kubectl_json("-n", namespace, "get", "inventoryseed", "spring-catalog")
               .get("status", {}).get("phase") == "Succeeded", seconds=120)
    api = Api(namespace, f"{release}-api")
    mug = eventually("the seeded product through the API",
                     lambda: api.call("GET", "/api/inventory/sku-mug"))
    check("the example's seed Job reached the release's store", mug["stock"] == 500, mug)

    api.sign_up("shopper@shop.test")
    order = api.order_until_final("sku-mug")
    controller_on_the_server(namespace, release, api)
    (worker,) = pods(namespace, "worker", release)
    logs = kubectl("-n", namespace, "logs", worker["metadata"]["name"]).stdout
    check("the worker pod processed it", order["id"] in logs)
    messages = eventually("the order's email in the emulator's SES",
                          lambda: [m for m in ses_messages() if order["id"] in json.dumps(m)])
    check("its email went through SES", len(messages) == 1, messages)
    metrics = api.call("GET", "/metrics")
    check("the api samples the queue depth too (alerts see it with the worker at zero)",
          re.search(r'^orderflow_queue_messages\{[^}]*state="visible"', metrics, re.M) is not None)

    # The same release name in a second namespace: cluster-scoped names do not collide.
    other = "shop-staging"
    done = helm("install", release, str(CHART_ON_SERVER), "--namespace", other, "--create-namespace",
                "--values", str(values), check=False)
    check("the same release name installs in a second namespace", done.returncode == 0, done.stderr)
    helm("uninstall", release, "--namespace", other, "--wait")

    # A changed Secret rolls the pods that read it.
    def running():
        return {p["metadata"]["uid"] for c in ("api", "worker") for p in pods(namespace, c, release)
                if not p["metadata"].get("deletionTimestamp")}

    before = running()
    changed = production_values(work, queue_url, "another-jwt-secret-for-the-cluster-test-0123456789")
    helm("upgrade", release, str(CHART_ON_SERVER), "--namespace", namespace, "--values", str(changed),
         "--wait", "--timeout", "180s")
    eventually("new api and worker pods only", lambda: len(running()) == 2 and not running() & before)
    check("helm upgrade with a changed Secret rolled the api and worker pods", not running() & before)

    helm("uninstall", release, "--namespace", namespace, "--wait")
    kubectl("delete", "inventoryseed", "--all", "-n", namespace, "--wait=true")
    kinds = [k for k in kubectl("api-resources", "--verbs=list", "-o", "name").stdout.split()
             if k not in ("events", "events.events.k8s.io", "componentstatuses")]
    def remaining():
        return kubectl("get", ",".join(kinds), "-A", "-o", "name", "-l",
                       f"app.kubernetes.io/instance={release}").stdout.split()

    # Pods end within their grace period (the worker's is its shutdown deadline and 10 s).
    eventually("the release's objects gone", lambda: remaining() == [], seconds=90,
               explain=lambda: f"left: {remaining()}")
    check("helm uninstall left nothing of the release", remaining() == [])
    leftovers = kubectl("get", "leases", "-n", namespace, "-o", "name").stdout.split() + [
        n for n in kubectl("get", "clusterroles,clusterrolebindings", "-o", "name").stdout.split()
        if n.split("/")[1].startswith((f"{namespace}-", f"{other}-"))]
    check("nor its Lease or cluster roles", leftovers == [], leftovers)
    check("the CRD stays, for the user to delete (docs/OPERATIONS.md)",
          kubectl("get", "crd", "inventoryseeds.orderflow.dev", check=False).returncode == 0)
    kubectl("delete", "namespace", namespace, other, "--wait=true")


def apply(namespace, document):
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))


def seed_document(name, product, stock, **spec):
    return {"apiVersion": "orderflow.dev/v1alpha1", "kind": "InventorySeed", "metadata": {"name": name},
            "spec": {"mode": "Upsert", "items": [{"productId": product, "name": product, "unitPrice": 500,
                                                   "currency": "USD", "stock": stock}], **spec}}


def seed_status(namespace, name):
    return kubectl_json("-n", namespace, "get", "inventoryseed", name).get("status", {})


def job_created_events(namespace, seed):
    return [e for e in kubectl_json("-n", namespace, "get", "events")["items"]
            if e["involvedObject"].get("name") == seed and e["reason"] == "JobCreated"]


def timestamp(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def lease_spec(namespace, release):
    return kubectl_json("-n", namespace, "get", "lease", f"{release}-controller")["spec"]


def controller_on_the_server(namespace, release, api):
    """The controller as the chart deploys it, with the chart's RBAC, on a real API server."""
    # A seed runs once: its Job deleted by its TTL is not created again.
    apply(namespace, seed_document("short-lived", "sku-ttl", 50, ttlSecondsAfterFinished=5))
    eventually("the short-lived seed Succeeded",
               lambda: seed_status(namespace, "short-lived").get("phase") == "Succeeded", seconds=120)
    job = seed_status(namespace, "short-lived")["jobName"]
    for _ in range(2):
        order = api.call("POST", "/api/orders", {"items": [{"productId": "sku-ttl", "quantity": 3}]}, expect=201)
        eventually("the order processed", lambda: api.call("GET", f"/api/orders/{order['id']}")["status"] == "PROCESSED")
    eventually("its Job deleted by the TTL controller",
               lambda: kubectl("-n", namespace, "get", "job", job, check=False).returncode != 0, seconds=60)
    time.sleep(30)
    check("30 s after its Job is gone, still exactly one JobCreated",
          len(job_created_events(namespace, "short-lived")) == 1, job_created_events(namespace, "short-lived"))
    check("and the seed still Succeeded", seed_status(namespace, "short-lived").get("phase") == "Succeeded")
    stock = api.call("GET", "/api/inventory/sku-ttl")["stock"]
    check("the stock is the seed's minus what orders took since", stock == 50 - 6, stock)

    # Seed pods carry no service-account token.
    job = seed_status(namespace, "spring-catalog")["jobName"]
    (pod,) = kubectl_json("-n", namespace, "get", "pods", "-l", f"job-name={job}")["items"]
    mounts = [v["name"] for v in pod["spec"].get("volumes", []) if "secret" in v or "projected" in v]
    check("a seed pod, as the server stored it, has no token",
          pod["spec"].get("automountServiceAccountToken") is False and mounts == [], pod["spec"])

    # An image that cannot be pulled: Pending, with the pod's reason.
    apply(namespace, seed_document("no-image", "sku-none", 1, image="registry.orderflow.invalid/orderflow:missing"))
    condition = eventually("the seed with a missing image Pending with a reason", lambda: (
        status := seed_status(namespace, "no-image")).get("phase") == "Pending"
        and status["conditions"][0]["reason"] in ("ErrImagePull", "ImagePullBackOff") and status["conditions"][0])
    check("a seed whose image does not exist is Pending, its condition says why",
          "registry.orderflow.invalid" in condition["message"], condition)
    kubectl("-n", namespace, "delete", "inventoryseed", "no-image")

    # Two replicas: a leader stopped with SIGTERM hands over at once.
    deployment = f"{release}-controller"
    kubectl("-n", namespace, "scale", "deployment", deployment, "--replicas=2")
    kubectl("-n", namespace, "rollout", "status", f"deployment/{deployment}", "--timeout=120s")
    leader = eventually("a leader", lambda: lease_spec(namespace, release).get("holderIdentity"))
    stopped = time.monotonic()
    kubectl("-n", namespace, "delete", "pod", leader, "--wait=false")
    successor = eventually("another replica leading", lambda: (
        holder := lease_spec(namespace, release).get("holderIdentity")) not in (None, "", leader) and holder,
        seconds=30, every=0.1)
    took = time.monotonic() - stopped
    check(f"the leader stopped with SIGTERM was replaced in {took:.1f} s (under 3 s)", took < 3, took)

    # A leader cut off from the API server steps down before its lease expires.
    kubectl("-n", namespace, "rollout", "status", f"deployment/{deployment}", "--timeout=120s")
    (cut_pod,) = [p for p in pods(namespace, "controller", release) if p["metadata"]["name"] == successor]
    duration = lease_spec(namespace, release)["leaseDurationSeconds"]
    cut = ["-s", cut_pod["status"]["podIP"], "-p", "tcp", "--dport", "6443", "-j", "DROP"]
    run("iptables", "-w", "-N", "ORDERFLOW-CLUSTER-CUT")
    run("iptables", "-w", "-I", "INPUT", "1", "-j", "ORDERFLOW-CLUSTER-CUT")
    run("iptables", "-w", "-A", "ORDERFLOW-CLUSTER-CUT", *cut)
    cut_at = time.time()
    try:
        apply(namespace, seed_document("during-the-cut", "sku-cut", 7))
        restarted = eventually("the cut leader exits", lambda: [
            p for p in pods(namespace, "controller", release)
            if p["metadata"]["name"] == successor
            and any(c.get("restartCount", 0) > 0 for c in p["status"].get("containerStatuses", []))],
            seconds=60, every=0.2)
        terminated = restarted[0]["status"]["containerStatuses"][0]["lastState"]["terminated"]
        # finishedAt has whole seconds: count the second it began in as spent.
        stepped_down = timestamp(terminated["finishedAt"]) + 1 - cut_at
        check(f"the cut leader stopped reconciling within {stepped_down:.0f} s (lease {duration} s)",
              stepped_down < duration, terminated)
        eventually("the seed made during the cut Succeeded",
                   lambda: seed_status(namespace, "during-the-cut").get("phase") == "Succeeded", seconds=120)
    finally:
        run("iptables", "-w", "-D", "INPUT", "-j", "ORDERFLOW-CLUSTER-CUT")
        run("iptables", "-w", "-F", "ORDERFLOW-CLUSTER-CUT")
        run("iptables", "-w", "-X", "ORDERFLOW-CLUSTER-CUT")
    lease = lease_spec(namespace, release)
    check("the new leader took the lease after the cut one had stopped",
          lease["holderIdentity"] != successor
          and timestamp(lease["acquireTime"]) >= timestamp(terminated["finishedAt"]) + 1, (lease, terminated))
    events = job_created_events(namespace, "during-the-cut")
    check("no two replicas acted: one JobCreated, by the new leader",
          len(events) == 1 and events[0].get("reportingInstance") == lease["holderIdentity"], events)
    stock = api.call("GET", "/api/inventory/sku-cut")["stock"]
    check("and its stock is the seed's", stock == 7, stock)

    # The other example, a catalog in a ConfigMap, sets the stock the API shows.
    kubectl("apply", "-n", namespace, "-f", "k8s/examples/inventoryseed-configmap.yaml")
    eventually("the ConfigMap example Succeeded",
               lambda: seed_status(namespace, "weekly-restock").get("phase") == "Succeeded", seconds=120)
    mug = api.call("GET", "/api/inventory/sku-mug")["stock"]
    check("the ConfigMap example set the stock the API shows", mug == 800, mug)


def main():
    global CHART_ON_SERVER
    with tempfile.TemporaryDirectory() as work:
        CHART_ON_SERVER = chart_for_this_server(work)
        for path, _, _, why in TEST_ONLY_CHANGES:
            print(f"test-only change to {path}: {why}")
        install_third_party_crds()
        demo()
        production(work)
    print(f"cluster: {passed} passed, 0 failed")


if __name__ == "__main__":
    main()
