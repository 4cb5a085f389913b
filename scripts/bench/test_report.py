"""What report.py makes of scripts/bench.sh's results: each scenario's verdict against its
target (at the edges too), the table of medians with min and max, the machine and commit,
the list of targets not met, the findings, and a chart that is well-formed SVG.

Run by scripts/test.sh: python3 -m unittest discover -s scripts/bench -p 'test_*.py'
"""
import json
import os
import subprocess
import tempfile
import unittest
import xml.etree.ElementTree as ElementTree

REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "report.py")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(REPORT)))

IN_PROCESS_READ = "`GET /api/orders/:id`, in-process cache hit, 64 connections"
MEMORY = "memory of `orderflow serve` (API, relay and worker in one process)"
PLACEMENT = "`POST /api/orders`, embedded store, 32 connections, worker running"


def passing_results():
    """Three runs of every scenario, each figure comfortably within its target."""
    per_run = {
        "read_redis": [{"rate": r, "p99_ms": 3.0} for r in (60_000, 62_000, 58_000)],
        "baseline_redis": [{"rate": r, "p99_ms": 2.5} for r in (70_000, 71_000, 69_000)],
        "read_memory": [{"rate": r, "p99_ms": 3.0} for r in (95_000, 96_000, 94_000)],
        "baseline_bytes": [{"rate": r, "p99_ms": 4.0} for r in (110_000, 111_000, 109_000)],
        "place": [{"rate": r, "p99_ms": 6.0} for r in (20_000, 21_000, 19_000)],
        "place_worker": [{"rate": 500.0}] * 3,
        "store_place": [{"placed": 200_000, "rate": r} for r in (38_000, 39_000, 37_000)],
        "place_api": [{"rate": 20_000, "p99_ms": 6.0}] * 3,
        "end_to_end": [{"p50_ms": 2.5, "p99_ms": 5.0, "rate": 1000}] * 3,
        "login": [{"rate": r, "p99_ms": 700.0} for r in (90.0, 95.0, 85.0)],
        "login_reads": [{"p99_ms": 9.0}] * 3,
        "drain": [{"orders": 50_000, "rate": r} for r in (9_000, 9_500, 8_500)],
        "startup": [{"ready_ms": 15.0, "ready_rss_mib": 21.0}] * 3,
        "idle": [{"ready_ms": 8.0, "ready_rss_mib": 17.0, "idle_rss_mib": 17.4, "idle_ms": 2000}] * 3,
    }
    records = [dict(r, scenario=s, run=i + 1) for s, runs in per_run.items() for i, r in enumerate(runs)]
    records += [{"scenario": "peak_rss", "run": i, "rss_mib": m} for i, m in enumerate((27.0, 28.0, 31.0, 65.0), 1)]
    return records


def with_runs(records, scenario, **fields):
    """`records` with `fields` set in every run of `scenario`."""
    return [dict(r, **fields) if r["scenario"] == scenario else r for r in records]


def table_rows(markdown):
    """Scenario -> (measured, target, verdict), from a document's table."""
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 4 and cells[3] in ("met", "**missed**"):
            rows[cells[0]] = tuple(cells[1:])
    return rows


def listed_not_met(markdown):
    """The scenarios a document lists under "Targets not met"."""
    if "## Targets not met" not in markdown:
        return []
    section = markdown.split("## Targets not met", 1)[1].split("\n## ", 1)[0]
    return [line[2:].split(": ", 1)[0] for line in section.splitlines() if line.startswith("- ")]


class Report:
    def __init__(self, records):
        with tempfile.TemporaryDirectory() as work:
            results = os.path.join(work, "results.jsonl")
            with open(results, "w") as out:
                out.writelines(json.dumps(r) + "\n" for r in records)
            markdown, svg = os.path.join(work, "BENCHMARKS.md"), os.path.join(work, "chart.svg")
            run = subprocess.run(["python3", REPORT, results, markdown, svg], cwd=REPO,
                                 capture_output=True, text=True, check=True)
            self.summary = run.stdout.strip()
            with open(markdown) as doc, open(svg) as chart:
                self.markdown, self.svg = doc.read(), chart.read()

    def rows(self):
        return table_rows(self.markdown)

    def verdict(self, scenario):
        return self.rows()[scenario][2]

    def not_met(self):
        return listed_not_met(self.markdown)


class VerdictsAndTable(unittest.TestCase):
    def test_every_target_met_gives_eight_rows_met_and_no_list_of_misses(self):
        report = Report(passing_results())
        self.assertEqual(len(report.rows()), 8)
        self.assertEqual({v for _, _, v in report.rows().values()}, {"met"})
        self.assertEqual(report.not_met(), [])
        self.assertIn("8 of 8 targets met", report.summary)

    def test_figures_are_medians_with_min_and_max(self):
        measured = Report(passing_results()).rows()[IN_PROCESS_READ][0]
        self.assertTrue(measured.startswith(
            "86.4% of the bare fixed-bytes endpoint: 95,000 req/s (94,000–96,000) "
            "against 110,000 req/s (109,000–111,000); p99 3.00 ms"), measured)

    def test_machine_commit_chart_and_findings_are_in_the_document(self):
        report = Report(passing_results())
        self.assertRegex(report.markdown, rf"- machine: {os.cpu_count()} cores, \S")
        self.assertRegex(report.markdown, r"- commit: [0-9a-f]{7,}")
        self.assertIn("![throughput and p99 latency per scenario](benchmarks.svg)", report.markdown)
        self.assertIn("\n## Findings\n", report.markdown)

    def test_the_chart_is_svg_with_a_bar_per_measured_throughput(self):
        chart = ElementTree.fromstring(Report(passing_results()).svg)
        self.assertEqual(chart.tag, "{http://www.w3.org/2000/svg}svg")
        rects = chart.findall("{http://www.w3.org/2000/svg}rect")
        # The white background, then one bar for each of the nine throughputs.
        self.assertEqual(len(rects), 1 + 9)
        labels = [t.text for t in chart.findall("{http://www.w3.org/2000/svg}text")]
        self.assertIn("95,000", labels)
        self.assertIn("3.0 ms", labels)


class Edges(unittest.TestCase):
    def assert_only_miss(self, records, scenario):
        report = Report(records)
        missed = [s for s, (_, _, v) in report.rows().items() if v != "met"]
        self.assertEqual(missed, [scenario])
        self.assertEqual(report.verdict(scenario), "**missed**")
        self.assertEqual(report.not_met(), [scenario])
        self.assertIn("7 of 8 targets met", report.summary)

    def test_the_in_process_read_at_70_percent_of_its_bare_endpoint_is_met_and_below_is_not(self):
        at = with_runs(passing_results(), "read_memory", rate=77_000)
        self.assertEqual(Report(at).verdict(IN_PROCESS_READ), "met")
        self.assert_only_miss(with_runs(at, "read_memory", rate=76_999), IN_PROCESS_READ)

    def test_a_slow_machine_meets_the_ratio_targets_its_absolute_rates_would_miss(self):
        # A day when everything, the bare endpoint too, runs at half speed.
        slow = passing_results()
        for scenario in ("read_memory", "baseline_bytes", "read_redis", "baseline_redis",
                         "place", "store_place"):
            slow = [dict(r, rate=r["rate"] / 2) if r["scenario"] == scenario else r for r in slow]
        report = Report(slow)
        self.assertEqual(report.verdict(IN_PROCESS_READ), "met")
        self.assertEqual(report.verdict(PLACEMENT), "met")

    def test_a_read_under_70_percent_of_its_bare_endpoint_is_missed(self):
        records = with_runs(passing_results(), "baseline_bytes", rate=140_000)
        self.assert_only_miss(records, IN_PROCESS_READ)

    def test_a_read_with_its_p99_over_5_ms_is_missed(self):
        self.assert_only_miss(with_runs(passing_results(), "read_memory", p99_ms=5.01), IN_PROCESS_READ)

    def test_placement_under_half_the_stores_rate_is_missed(self):
        records = with_runs(passing_results(), "store_place", rate=41_000)
        self.assert_only_miss(records, PLACEMENT)

    def test_peak_memory_is_held_against_80_mb_not_80_mib(self):
        # 76.29 MiB is 79.99 MB; 76.3 MiB is 80.01 MB.
        under = passing_results() + [{"scenario": "peak_rss", "run": 5, "rss_mib": 76.29}]
        self.assertEqual(Report(under).verdict(MEMORY), "met")
        over = passing_results() + [{"scenario": "peak_rss", "run": 5, "rss_mib": 76.3}]
        self.assert_only_miss(over, MEMORY)

    def test_a_scenario_that_did_not_run_is_missed_not_met(self):
        records = [r for r in passing_results() if r["scenario"] != "drain"]
        self.assert_only_miss(records, "worker draining a backlog (embedded queue, file mail), every email sent")


class CommittedDocument(unittest.TestCase):
    def test_each_target_is_met_or_listed_as_not_met_with_the_findings(self):
        with open(os.path.join(REPO, "docs", "BENCHMARKS.md")) as doc:
            markdown = doc.read()
        rows = table_rows(markdown)
        self.assertEqual(len(rows), 8)
        missed = [scenario for scenario, (_, _, verdict) in rows.items() if verdict != "met"]
        self.assertEqual(listed_not_met(markdown), missed)
        self.assertIn("\n## Findings\n", markdown)


if __name__ == "__main__":
    unittest.main()
