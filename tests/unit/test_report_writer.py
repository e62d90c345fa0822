"""write_report and ``resilience report``: every output file from a run folder, robust to missing data."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from resilience.report import write_report
from resilience.report.build import collect
from resilience.report.junit import experiment_checks
from tests.support.synthetic_run import DEFAULT_EXPERIMENTS, SyntheticRun, write_synthetic_run

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[SyntheticRun, list[Path]]:
    """The synthetic run with its report written once for the read-only tests of this module."""
    synth = write_synthetic_run(tmp_path_factory.mktemp("report"))
    return synth, write_report(synth.path)


def test_write_report_writes_every_output(report: tuple[SyntheticRun, list[Path]]) -> None:
    """Charts for the run and for each experiment with a timeline, then report.html, summary.md, junit.xml."""
    synth, written = report
    names = sorted(p.relative_to(synth.path).as_posix() for p in written)
    assert names == sorted(
        [
            "charts/recovery.png",
            "charts/integrity.png",
            "charts/failover.png",
            "charts/timeline-pod-kill.png",
            "charts/latency-pod-kill.png",
            "charts/timeline-db-failover.png",
            "charts/latency-db-failover.png",
            "report.html",
            "summary.md",
            "junit.xml",
        ]
    )
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000


def test_report_html_is_self_contained(report: tuple[SyntheticRun, list[Path]]) -> None:
    """report.html embeds every chart as a data URI and references nothing over the network."""
    synth, _ = report
    html = (synth.path / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 7 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(?:href|src)="(?:https?:)?//', html)
    assert "<script" not in html
    for text in (
        "db-failover",
        "42.0 s of 30 s (late)",
        "2 lost",
        "resilience run scenarios/gameday.yaml --seed 7",
        "versions.postgresql",
        "no redis-outage/timeline.csv",
        "resilience report ",
        "Why failed:</strong> recovery 42.0 s over the 30 s target; 2 acknowledged messages lost",
        "interrupted by SIGINT",
        "during: deviated",
    ):
        assert text in html


def test_summary_markdown_table(report: tuple[SyntheticRun, list[Path]]) -> None:
    """summary.md has the verdict heading, one table row per experiment and the missing-data notes."""
    synth, _ = report
    summary = (synth.path / "summary.md").read_text()
    assert summary.startswith(f"## ⏸️ Resilience run `{synth.run_id}`: INTERRUPTED")
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 4  # header + 3 experiments
    assert "| db-failover | ❌ failed | held / deviated | 3.0 s | 42.0 s of 30 s (late) |" in summary
    assert "- redis-outage: run.json does not record hypothesis.after, integrity" in summary
    assert "- **db-failover** (failed): recovery 42.0 s over the 30 s target; 2 acknowledged messages lost" in summary
    assert "- interrupted by SIGINT" in summary


def test_junit_cases_per_check(report: tuple[SyntheticRun, list[Path]]) -> None:
    """junit.xml: a suite per experiment, four cases each; late recovery and lost messages are failures."""
    synth, _ = report
    root = ET.parse(synth.path / "junit.xml").getroot()  # noqa: S314 - our own output
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("12", "3", "0", "3")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == ["pod-kill", "db-failover", "redis-outage"]
    failed = {c.get("name"): c.find("failure") for c in suites["db-failover"].iter("testcase")}
    assert failed["steady-state hypothesis before"] is None
    recovery = failed["recovery target"]
    assert recovery is not None and recovery.get("message") == "recovered in 42.0 s, over the target of 30 s"
    integrity = failed["message integrity"]
    assert integrity is not None and integrity.get("message", "").startswith("2 lost")
    skipped = [c.get("name") for c in suites["redis-outage"].iter("testcase") if c.find("skipped") is not None]
    assert skipped == ["steady-state hypothesis after", "recovery target", "message integrity"]


def test_junit_aborted_experiment_is_error(tmp_path: Path) -> None:
    """A check not measured because the experiment aborted is an error, not a silent skip."""
    synth = write_synthetic_run(tmp_path)
    exp = collect(synth.path).experiments[2].experiment
    outcomes = [c.outcome for c in experiment_checks(replace(exp, verdict="aborted"))]
    assert outcomes == ["passed", "error", "error", "error"]


def test_run_without_experiments(tmp_path: Path) -> None:
    """A run stopped before its first experiment still gets a report that says so, and a junit error."""
    (tmp_path / "run.json").write_text('{"run_id": "r0", "verdict": "aborted", "started": 1790000000}')
    write_report(tmp_path)
    assert "No experiment was recorded." in (tmp_path / "report.html").read_text()
    root = ET.parse(tmp_path / "junit.xml").getroot()  # noqa: S314 - our own output
    assert root.get("errors") == "1" and root.get("tests") == "1"
    assert "no experiment was recorded" in (tmp_path / "summary.md").read_text()
    assert not (tmp_path / "charts").exists()


def test_capacity_section_hook(tmp_path: Path) -> None:
    """A capacity.json in the run folder adds a Capacity section with its figures and any capacity charts."""
    synth = write_synthetic_run(tmp_path, experiments=DEFAULT_EXPERIMENTS[:1])
    (synth.path / "capacity.json").write_text('{"knee": {"users": 850, "throughput": 1234.5}, "steps": [1, 2]}')
    write_report(synth.path)
    html = (synth.path / "report.html").read_text()
    assert '<h2 id="capacity">Capacity</h2>' in html
    assert "knee.users" in html and "1234.5" in html


def test_regenerating_replaces_outputs(tmp_path: Path) -> None:
    """Running the report twice leaves the same set of files (no temporaries left behind)."""
    synth = write_synthetic_run(tmp_path, experiments=DEFAULT_EXPERIMENTS[:1])
    first = sorted(write_report(synth.path))
    second = sorted(write_report(synth.path))
    assert first == second
    assert not list(synth.path.glob(".*.tmp"))


def test_repeated_experiment_names_keep_their_own_charts(tmp_path: Path) -> None:
    """The same experiment run twice gets two sections with their own charts, not one overwriting the other."""
    synth = write_synthetic_run(tmp_path, experiments=(DEFAULT_EXPERIMENTS[0],))
    (synth.path / "pod-kill-2").mkdir()
    run = json.loads((synth.path / "run.json").read_text())
    second = dict(run["experiments"][0], recovery_s=7.0, dir="pod-kill-2")
    run["experiments"].append(second)
    (synth.path / "run.json").write_text(json.dumps(run))
    (synth.path / "pod-kill-2" / "timeline.csv").write_text((synth.path / "pod-kill" / "timeline.csv").read_text())
    written = {p.name for p in write_report(synth.path)}
    assert {"timeline-pod-kill.png", "timeline-pod-kill-2.png"} <= written
    html = (synth.path / "report.html").read_text()
    assert 'id="exp-pod-kill"' in html and 'id="exp-pod-kill-2"' in html
    assert html.count('alt="pod-kill: timeline"') == 2


def test_integrity_details_from_the_checker(tmp_path: Path) -> None:
    """Delivery ratio, indeterminate sends and the checker's violations (first 20) reach the report."""
    synth = write_synthetic_run(tmp_path, experiments=(DEFAULT_EXPERIMENTS[0],))
    run = json.loads((synth.path / "run.json").read_text())
    run["experiments"][0]["integrity"].update(
        out_of_order=25,
        indeterminate=1,
        delivery_ratio=0.5,
        violations=[f"delivery order: u{i} got id 9 after 11" for i in range(25)],
    )
    (synth.path / "run.json").write_text(json.dumps(run))
    write_report(synth.path)
    html = (synth.path / "report.html").read_text()
    assert "Integrity problems the checker found (20 of 25 shown)" in html
    assert "<code>delivery order: u19 got id 9 after 11</code>" in html and "u20 got" not in html
    assert "1 indeterminate · 50.0 % delivered to WebSocket clients" in html
    assert '<td class="bad">25 out of order</td>' in html


def test_raw_events_give_request_latency_charts(tmp_path: Path) -> None:
    """With the load's raw events, every experiment gets a per-request latency chart, even one without a timeline."""
    synth = write_synthetic_run(tmp_path, events=True)
    names = {p.name for p in write_report(synth.path)}
    assert {"latency-pod-kill.png", "latency-db-failover.png", "latency-redis-outage.png"} <= names
    assert "timeline-redis-outage.png" not in names
    html = (synth.path / "report.html").read_text()
    assert "Every successful request of the experiment" in html
    assert "no redis-outage/timeline.csv: timeline chart left out" in html and "no raw load events" not in html


def test_load_run_without_experiments(tmp_path: Path) -> None:
    """A load-only run (kind "load": run-level timeline and integrity) reports the whole run, and its junit
    passes on the verdict and integrity instead of failing for want of experiments."""
    synth = write_synthetic_run(tmp_path, experiments=(DEFAULT_EXPERIMENTS[0],))
    run = json.loads((synth.path / "run.json").read_text())
    integrity = run["experiments"][0]["integrity"]
    run.update(kind="load", verdict="passed", experiments=[], integrity=integrity)
    del run["scenario"]
    (synth.path / "run.json").write_text(json.dumps(run))
    (synth.path / "pod-kill" / "timeline.csv").rename(synth.path / "timeline.csv")
    names = {p.name for p in write_report(synth.path)}
    assert {"timeline-run.png", "latency-run.png"} <= names
    html = (synth.path / "report.html").read_text()
    assert '<h2 id="exp-run">Whole run</h2>' in html and "A load run: no experiments" in html
    assert "No experiment was recorded" not in html and "does not record scenario" not in html
    root = ET.parse(synth.path / "junit.xml").getroot()  # noqa: S314 - our own output
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert list(cases) == ["load run verdict", "message integrity"]
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert "Integrity (whole run): clean (5,234 acked)." in (synth.path / "summary.md").read_text()


def test_summary_md_escapes_run_json_text_and_reads_nothing_outside_the_run_folder(tmp_path: Path) -> None:
    """Names, reasons and ids from run.json are inert in summary.md (no link, image, HTML, code-span break
    or extra table cell), and an experiment ``dir`` of ``../outside`` or ``/abs`` is not followed."""
    run = tmp_path / "run"
    outside = tmp_path / "outside"
    outside.mkdir()
    synth = write_synthetic_run(tmp_path / "synth")
    good = next(synth.path.rglob("timeline.csv"))
    (outside / "timeline.csv").write_bytes(good.read_bytes())
    evil = "x](https://evil.example) <img src=x onerror=alert(1)> | *b* `c`"
    doc = {
        "run_id": "r`1` [l](https://evil.example)",
        "verdict": "failed",
        "scenario": "s`x",
        "experiments": [
            {"name": evil, "verdict": "failed", "dir": "../outside", "reasons": [evil]},
            {"name": "abs", "verdict": "failed", "dir": str(outside), "reasons": ["r"]},
        ],
        "errors": [evil],
    }
    run.mkdir()
    (run / "run.json").write_text(json.dumps(doc))
    write_report(run)
    summary = (run / "summary.md").read_text()
    outside_code = re.sub(r"`[^`\n]*`", "", summary)
    assert not re.search(r"(?<!\\)\]\(", outside_code) and not re.search(r"(?<!\\)<img", outside_code)
    heading = summary.splitlines()[0]
    assert heading.count("`") == 2  # one code span, not broken open by the run id's backticks
    row = next(line for line in summary.splitlines() if line.startswith("| x"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 10  # 9 cells: the '|' in the name is escaped
    assert collect(run).experiments[0].series is None and collect(run).experiments[1].series is None


def test_alerts_table_in_report_and_summary(tmp_path: Path) -> None:
    """Every alert of every experiment in one table (report.html and summary.md) with its verdict: on time,
    late, leftover, missing, not expected (the runner's alerting words; the timeline bars use the same)."""
    synth = write_synthetic_run(tmp_path, experiments=DEFAULT_EXPERIMENTS[:1])
    run = json.loads((synth.path / "run.json").read_text())
    run["experiments"][0]["alerts"] = [
        {"name": "ChatReplicaDown", "expected": True, "within_s": 30.0, "fired_s": 1.2, "resolved_s": 3.4},
        {"name": "ChatLatencyP95High", "expected": True, "within_s": 5.0, "fired_s": 9.0, "resolved_s": None},
        {"name": "PostgresLeaderChanged", "expected": True, "within_s": 30.0, "fired_s": -40.0, "resolved_s": None},
        {"name": "NoSuchAlert", "expected": True, "within_s": 30.0, "fired_s": None, "resolved_s": None},
        {"name": "ChatWebSocketsDropped", "expected": False, "within_s": None, "fired_s": 2.0, "resolved_s": 4.0},
    ]
    (synth.path / "run.json").write_text(json.dumps(run))
    write_report(synth.path)
    summary = (synth.path / "summary.md").read_text()
    assert "| pod-kill | ChatReplicaDown | yes | 30.0 s | 1.2 s | 3.4 s | ✅ on time |" in summary
    assert "| pod-kill | ChatLatencyP95High | yes | 5.0 s | 9.0 s | — | ❌ late |" in summary
    assert "| pod-kill | PostgresLeaderChanged | yes | 30.0 s | -40.0 s | — | ❌ leftover |" in summary
    assert "| pod-kill | NoSuchAlert | yes | 30.0 s | — | — | ❌ missing |" in summary
    assert "| pod-kill | ChatWebSocketsDropped | no | — | 2.0 s | 4.0 s | not expected |" in summary
    html = (synth.path / "report.html").read_text()
    assert '<h2 id="alerts">Alerts</h2>' in html
    assert html.count('<td class="bad">') >= 3 and '<td class="good">on time</td>' in html
