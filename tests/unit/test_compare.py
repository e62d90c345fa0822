"""``compare_runs`` and ``resilience compare``: regressions and improvements between two runs, one verdict."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from resilience.report.build import collect
from resilience.report.compare import Comparison, Tolerances, compare_reports, compare_runs, render_comparison
from resilience.report.model import load_run
from tests.support.synthetic_run import DEFAULT_EXPERIMENTS, SyntheticRun, write_synthetic_run

pytestmark = pytest.mark.unit

POD_KILL, DB_FAILOVER, REDIS_OUTAGE = DEFAULT_EXPERIMENTS


def two_runs(root: Path) -> tuple[SyntheticRun, SyntheticRun]:
    """Run A is the default story; in run B pod-kill recovers slower (4.5 -> 9 s) and db-failover is fixed."""
    a = write_synthetic_run(root, "run-a")
    b = write_synthetic_run(
        root,
        "run-b",
        (
            replace(POD_KILL, recovery_s=9.0),
            replace(DB_FAILOVER, recovery_s=12.0, lost=0, verdict="passed", hypothesis_after=True),
            REDIS_OUTAGE,
        ),
    )
    return a, b


@pytest.fixture
def runs(tmp_path: Path) -> tuple[SyntheticRun, SyntheticRun]:
    """The two runs of :func:`two_runs` in the test's temp folder."""
    return two_runs(tmp_path)


def _compare(a: SyntheticRun, b: SyntheticRun, tol: Tolerances | None = None) -> Comparison:
    return compare_runs(load_run(a.path), load_run(b.path), tol)


def _status(c: Comparison, experiment: str, metric: str) -> str:
    return next(x.status for x in c.changes if x.experiment == experiment and x.metric == metric)


def test_known_regressions_and_improvements(runs: tuple[SyntheticRun, SyntheticRun]) -> None:
    """Slower recovery is a regression; the fixed failover's recovery, target, verdict and lost count improve."""
    c = _compare(*runs)
    assert c.verdict == "regressed"
    assert [(x.experiment, x.metric, x.before, x.after) for x in c.regressions] == [
        ("pod-kill", "recovery time", "4.5 s", "9.0 s")
    ]
    assert {(x.experiment, x.metric) for x in c.improvements} == {
        ("db-failover", "verdict"),
        ("db-failover", "hypothesis after"),
        ("db-failover", "recovery target"),
        ("db-failover", "recovery time"),
        ("db-failover", "lost messages"),
    }
    assert not any(x.experiment == "redis-outage" and x.status != "unchanged" for x in c.changes)


def test_same_run_is_unchanged(runs: tuple[SyntheticRun, SyntheticRun]) -> None:
    """A run compared with itself is unchanged, with nothing regressed or improved."""
    a, _ = runs
    c = _compare(a, a)
    assert c.verdict == "unchanged" and not c.regressions and not c.improvements


def test_tolerance_absorbs_noise(runs: tuple[SyntheticRun, SyntheticRun], tmp_path: Path) -> None:
    """4.5 s -> 5.0 s is within the 1 s absolute tolerance; a 100 % relative tolerance hides 4.5 -> 9 s too."""
    a, b = runs
    near = write_synthetic_run(tmp_path, "run-near", (replace(POD_KILL, recovery_s=5.0), DB_FAILOVER, REDIS_OUTAGE))
    assert _status(_compare(a, near), "pod-kill", "recovery time") == "unchanged"
    loose = Tolerances(relative=1.0, seconds=0.0)
    assert _status(_compare(a, b, loose), "pod-kill", "recovery time") == "unchanged"


def test_integrity_and_missing_recovery_regress(tmp_path: Path) -> None:
    """A lost message where there was none, and no recovery where there was one, are regressions."""
    a = write_synthetic_run(tmp_path, "a", (POD_KILL,))
    b = write_synthetic_run(tmp_path, "b", (replace(POD_KILL, lost=1, recovery_s=None, verdict="failed"),))
    c = _compare(a, b)
    assert _status(c, "pod-kill", "lost messages") == "regressed"
    assert _status(c, "pod-kill", "recovery time") == "regressed"
    assert _status(c, "pod-kill", "recovery target") == "regressed"
    assert _status(c, "pod-kill", "verdict") == "regressed"


def test_added_and_removed_experiments_are_listed(tmp_path: Path) -> None:
    """Experiments in only one run are reported as not comparable, never silently dropped."""
    a = write_synthetic_run(tmp_path, "a", (POD_KILL, DB_FAILOVER))
    b = write_synthetic_run(tmp_path, "b", (POD_KILL, REDIS_OUTAGE))
    c = _compare(a, b)
    notes = {(x.experiment, x.note) for x in c.changes if x.metric == "experiment"}
    assert notes == {("db-failover", "not in b"), ("redis-outage", "new in b")}


def test_renderings(runs: tuple[SyntheticRun, SyntheticRun]) -> None:
    """Text, Markdown and JSON all carry the verdict and the regression."""
    c = _compare(*runs)
    text = render_comparison(c, "text")
    assert text.startswith("run-a -> run-b: REGRESSED (1 regression, 5 improvements)")
    assert "pod-kill  recovery time  4.5 s -> 9.0 s" in text
    markdown = render_comparison(c, "markdown")
    assert "| pod-kill | recovery time | 4.5 s | 9.0 s | regressed |" in markdown
    body = json.loads(render_comparison(c, "json"))
    assert body["verdict"] == "regressed" and len(body["changes"]) == len(c.changes)


def test_steady_state_p95_from_timelines(tmp_path: Path) -> None:
    """A steady-state p95 that doubles (about 43 -> 83 ms) before the fault is a regression; timelines hold it."""
    a = write_synthetic_run(tmp_path, "a", (POD_KILL,))
    b = write_synthetic_run(tmp_path, "b", (replace(POD_KILL, p95_steady_ms=80.0),))
    c = compare_reports(collect(a.path), collect(b.path))
    change = next(x for x in c.changes if x.metric == "steady-state p95")
    assert change.status == "regressed" and change.before == "43 ms" and change.after == "83 ms"
    assert _status(c, "pod-kill", "peak p95") == "unchanged"
