"""Quantiles of one Prometheus histogram in a scrape, as histogram_quantile() computes them
(linear within a bucket), printed as a JSON line with the load client's own figures.

usage: histogram.py SCRAPE METRIC LABEL_MATCH [LOAD_JSON]
"""
import json
import re
import sys

scrape, metric, match = sys.argv[1], sys.argv[2], sys.argv[3]
buckets = []
for line in open(scrape):
    if line.startswith(f"{metric}_bucket{{") and match in line:
        le = re.search(r'le="([^"]+)"', line).group(1)
        buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
buckets.sort()
total = buckets[-1][1] if buckets else 0


def quantile(q):
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / max(count - lower_count, 1e-9)
        lower_bound, lower_count = bound, count
    return float("nan")


figures = {"observed": total, "p50_ms": quantile(0.5) * 1e3, "p99_ms": quantile(0.99) * 1e3}
if len(sys.argv) > 4:
    load = json.load(open(sys.argv[4]))
    figures.update(sent=load["sent"], ok=load["ok"], rate=load["rate"])
print(json.dumps(figures))
