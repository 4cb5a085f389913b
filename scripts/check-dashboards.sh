#!/usr/bin/env bash
# The alert rules load and their unit tests pass (promtool; they include two releases on one
# Prometheus), and every PromQL expression of the Grafana dashboards parses and reads only
# the series of the $namespace and $job the dashboard's variables choose. (That every metric they name is exported is checked by the
# HTTP tests against a live scrape of the api and worker processes.)
set -euo pipefail
cd "$(dirname "$0")/.."

promtool check rules dashboards/alerts/orderflow.rules.yaml
(cd dashboards/alerts && promtool test rules orderflow.rules.test.yaml)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Each dashboard query as a recording rule, with Grafana's interval variables filled in, so
# promtool parses it.
python3 - "$work/dashboards.rules.yaml" dashboards/*.json <<'PY'
import json, re, sys
out, files = sys.argv[1], sys.argv[2:]
rules = []
for path in files:
    with open(path) as f:
        dashboard = json.load(f)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables.get("datasource", {}).get("type") == "datasource", f"{path}: no datasource variable"
    for scope in ("namespace", "job"):
        assert variables.get(scope, {}).get("type") == "query", f"{path}: no {scope} variable"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", f"{path}: panel without the datasource variable"
        for target in panel["targets"]:
            # Two releases on one Prometheus: every series a panel reads is the chosen ones'.
            selectors = r'\borderflow_[a-z0-9_]+(\{(?:[^{}"]|"[^"]*")*\})?'
            for selector in re.finditer(selectors, target["expr"]):
                assert 'namespace=~"$namespace", job=~"$job"' in (selector.group(1) or ""), \
                    f"{path}: {selector.group(0)} is not scoped to $namespace and $job"
            expr = (target["expr"].replace("$__rate_interval", "5m").replace("$__interval", "1m")
                    .replace("$namespace", ".*").replace("$job", ".*"))
            rules.append({"record": f"dashboard:expr_{len(rules)}", "expr": expr})
if not rules:
    sys.exit("no dashboard queries found")
with open(out, "w") as f:
    json.dump({"groups": [{"name": "dashboards", "rules": rules}]}, f)
print(f"{len(rules)} dashboard queries from {len(files)} dashboards")
PY
promtool check rules "$work/dashboards.rules.yaml"
