#!/usr/bin/env python3
"""The dashboards and alert rules against a real Prometheus (Debian's `prometheus`).

Starts `orderflow serve` and a Prometheus scraping it every second with the chart's alert
rules loaded (unedited) and its own short evaluation interval, drives traffic and the
situations some panels and alerts are about (the store locked by another writer, a
message dead-lettered, the mail directory gone), then:

- runs every query of every dashboard panel through Prometheus's HTTP API, prints the
  panel-by-panel list, and fails on a query without data; the queries that can only have
  data in a situation must show it once that situation was produced;
- checks that two alerts went from inactive to firing: a message in the dead-letter queue
  (`for: 1m`) and emails given up (no `for`).

Usage: check_prometheus.py ORDERFLOW_BINARY
Standard library only.
"""
import glob
import json
import math
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = os.path.join(ROOT, "charts/orderflow/files/alerts/orderflow.rules.yaml")
DASHBOARDS = sorted(glob.glob(os.path.join(ROOT, "dashboards/*.json")))
NAMESPACE, JOB = "orderflow-test", "orderflow"
# Covers the whole run, so a situation produced a minute earlier still shows.
RATE_INTERVAL = "3m"
# Panels whose queries can only have data (or a non-zero value) in a situation, and the
# situation this check produces for them.
SITUATIONAL = {
    "Error ratio (5xx)": "5xx answers: the store locked past its busy timeout",
    "Dependency errors per second": "failing store calls: the store locked",
    "Dead-lettered messages": "a message past its receive limit",
    "Email failure ratio": "emails retried and given up: the mail directory gone",
}
ALERTS = ["OrderflowMessagesInDeadLetterQueue", "OrderflowEmailsFailing"]
PASSWORD = "a password for the prometheus check"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, body=None, token=None, timeout=10):
    """(status, parsed JSON or None) of a request; HTTP errors are answers too."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None


def wait_for(what, check, within=60, every=0.25):
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            sys.exit(f"FAIL: timed out waiting for {what}")
        time.sleep(every)


class Shop:
    """A customer of `serve`: registers, logs in, places and reads orders."""

    def __init__(self, base):
        self.base = base
        email = f"prom-{uuid.uuid4().hex[:12]}@example.com"
        status, _ = call(f"{base}/api/auth/register",
                         {"email": email, "password": PASSWORD, "name": "Prom"})
        assert status == 201, status
        status, session = call(f"{base}/api/auth/login", {"email": email, "password": PASSWORD})
        assert status == 200, status
        self.token, self.refresh = session["accessToken"], session["refreshToken"]
        self.statuses = []

    def round(self):
        """One customer's round: every family of route, and its error cases."""
        answers = []
        status, order = call(f"{self.base}/api/orders",
                             {"items": [{"productId": "sku-mug", "quantity": 1}]}, self.token)
        answers.append(status)
        if status == 201:
            answers.append(call(f"{self.base}/api/orders/{order['id']}", token=self.token)[0])
            answers.append(call(f"{self.base}/api/orders/{order['id']}", token=self.token)[0])
        answers.append(call(f"{self.base}/api/orders?limit=5", token=self.token)[0])
        answers.append(call(f"{self.base}/api/inventory", token=self.token)[0])
        answers.append(call(f"{self.base}/api/auth/me", token=self.token)[0])
        answers.append(call(f"{self.base}/api/orders/{uuid.uuid4()}", token=self.token)[0])
        answers.append(call(f"{self.base}/api/orders")[0])
        answers.append(call(f"{self.base}/api/orders", {"items": []}, self.token)[0])
        self.statuses.extend(answers)


def traffic(base, stop):
    shop = Shop(base)
    while not stop.is_set():
        shop.round()
        time.sleep(0.05)
    return shop


def query(prometheus, expr):
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, answer = call(url)
    if status != 200 or answer.get("status") != "success":
        sys.exit(f"FAIL: Prometheus refused {expr!r}: {status} {answer}")
    return answer["data"]["result"]


def finite_values(result):
    values = []
    for series in result:
        value = float(series["value"][1])
        if not math.isnan(value) and not math.isinf(value):
            values.append(value)
    return values


def panel_queries():
    for path in DASHBOARDS:
        dashboard = json.load(open(path))
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                if "expr" in target:
                    yield os.path.basename(path), panel["title"], target["expr"]


def substitute(expr):
    return (expr.replace("$namespace", NAMESPACE).replace("$job", JOB)
            .replace("$__rate_interval", RATE_INTERVAL))


def alert_states(prometheus):
    status, answer = call(f"{prometheus}/api/v1/rules?type=alert")
    assert status == 200, status
    states = {}
    for group in answer["data"]["groups"]:
        for rule in group["rules"]:
            if rule.get("health") not in (None, "ok", "unknown"):
                sys.exit(f"FAIL: rule {rule['name']} is {rule['health']}: {rule.get('lastError')}")
            states[rule["name"]] = rule["state"]
    return states


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    prometheus_bin = shutil.which("prometheus")
    if not prometheus_bin:
        sys.exit("FAIL: Debian's prometheus is not installed (scripts/test-services.sh installs it)")
    work = tempfile.mkdtemp(prefix="orderflow-prometheus-")
    data_dir = os.path.join(work, "data")
    processes = []
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            "PATH": os.environ.get("PATH", ""), "DATA_DIR": data_dir, "HOST": "127.0.0.1",
            "PORT": str(port), "LOG_FORMAT": "json", "RUST_LOG": "warn",
            "AUTH_RATE_LIMIT_PER_MINUTE": "100000", "EMAIL_MAX_ATTEMPTS": "2",
            "EMAIL_RETRY_DELAY": "200ms",
        }
        log = open(os.path.join(work, "serve.log"), "w")
        processes.append(subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=log))
        wait_for("serve ready", lambda: call(f"{base}/readyz")[0] == 200)

        prom_port = free_port()
        prometheus = f"http://127.0.0.1:{prom_port}"
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            json.dump({
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [RULES],
                "scrape_configs": [{
                    "job_name": JOB,
                    "static_configs": [{"targets": [f"127.0.0.1:{port}"],
                                        "labels": {"namespace": NAMESPACE}}],
                }],
            }, f)
        prom_log = open(os.path.join(work, "prometheus.log"), "w")
        processes.append(subprocess.Popen([
            prometheus_bin, f"--config.file={config}", f"--storage.tsdb.path={work}/tsdb",
            f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn",
        ], stdout=prom_log, stderr=prom_log))
        wait_for("Prometheus ready", lambda: call(f"{prometheus}/-/ready")[0] == 200)
        wait_for("the first scrape", lambda: query(prometheus, f'up{{job="{JOB}"}} == 1'))
        wait_for("the first rule evaluation", lambda: alert_states(prometheus))
        before = alert_states(prometheus)
        for alert in ALERTS:
            if before.get(alert) != "inactive":
                sys.exit(f"FAIL: {alert} is {before.get(alert)!r} before its situation")
        print(f"alert rules loaded: {len(before)}, all inactive: {sorted(before)}")

        stop = threading.Event()
        shops = []
        threads = [threading.Thread(target=lambda: shops.append(traffic(base, stop)))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(5)

        # The store locked by another writer, three times the store's busy timeout (5 s): a
        # placement waits that long, then is answered 503, more than once per customer (a
        # counter's first increase is only seen from its second sample).
        database = sqlite3.connect(os.path.join(data_dir, "orderflow.sqlite3"), timeout=30)
        database.execute("BEGIN IMMEDIATE")
        time.sleep(16)
        database.rollback()
        # A message past its receive limit: the next receive dead-letters it.
        database.execute(
            "INSERT INTO queue_messages (id, body, attributes, sent_at, visible_at, receive_count)"
            " VALUES (?, ?, '{}', 0, 0, 99)",
            (str(uuid.uuid4()), json.dumps({"orderId": str(uuid.uuid4())})),
        )
        database.commit()
        database.close()
        # The mail directory gone for a while: sends fail, and after two attempts each
        # email is given up.
        mail = os.path.join(data_dir, "mail")
        shutil.move(mail, mail + ".away")
        time.sleep(4)
        shutil.move(mail + ".away", mail)
        time.sleep(5)
        stop.set()
        for thread in threads:
            thread.join()
        statuses = [s for shop in shops for s in shop.statuses]
        print(f"traffic: {len(statuses)} requests, status codes "
              f"{dict(sorted((s, statuses.count(s)) for s in set(statuses)))}")
        if statuses.count(503) < 2:
            sys.exit("FAIL: the locked store made fewer than two 503s")
        time.sleep(3)  # the last scrape of what happened

        failures = []
        # The highest value each situational panel showed, over all of its queries.
        situational_peaks = {}
        print(f"{'dashboard':<30} {'panel':<52} result")
        for dashboard, title, expr in panel_queries():
            values = finite_values(query(prometheus, substitute(expr)))
            situation = SITUATIONAL.get(title)
            if not values:
                verdict = "NO DATA"
                failures.append(f"{dashboard} / {title}: {expr}")
            else:
                shown = ", ".join(f"{v:.4g}" for v in values[:3])
                verdict = f"data ({len(values)} series: {shown})"
                if situation:
                    verdict += f" [only with {situation}]"
                    peak = situational_peaks.get(title, 0.0)
                    situational_peaks[title] = max(peak, max(values))
            print(f"{dashboard:<30} {title[:52]:<52} {verdict}")
        for title, situation in SITUATIONAL.items():
            if situational_peaks.get(title, 0.0) <= 0:
                failures.append(f"{title}: nothing shown after {situation}")
        for variable in ("namespace", "job"):
            url = f"{prometheus}/api/v1/label/{variable}/values?match[]=orderflow_build_info"
            values = call(url)[1]["data"]
            print(f"variable ${variable}: {values}")
            if not values:
                failures.append(f"the ${variable} variable has no values")
        if failures:
            sys.exit("FAIL: dashboards:\n  " + "\n  ".join(failures))

        def fired():
            states = alert_states(prometheus)
            return states if all(states.get(alert) == "firing" for alert in ALERTS) else None

        states = wait_for("the alerts to fire", fired, within=150, every=1)
        print("alerts: " + ", ".join(f"{name} {state}" for name, state in sorted(states.items())))
        print(f"prometheus check passed: {sum(1 for _ in panel_queries())} panel queries with data, "
              f"{', '.join(ALERTS)} inactive then firing")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if os.environ.get("KEEP_PROMETHEUS_CHECK"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
