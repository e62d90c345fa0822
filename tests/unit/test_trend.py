"""``resilience trend``: runs of a results folder in time order, one chart and a table, broken runs named."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.lines import Line2D

from resilience.errors import ConfigError
from resilience.report.trend import load_runs, recovery_spread, spread_markdown, trend_figure, trend_markdown
from tests.support.synthetic_run import DEFAULT_EXPERIMENTS, STARTED, write_synthetic_run

pytestmark = pytest.mark.unit

POD_KILL, DB_FAILOVER, _ = DEFAULT_EXPERIMENTS
DAY = 86_400.0


def nightly_results(root: Path) -> Path:
    """Five nightly runs written out of order (pod-kill recovery 5, 6, 7, 8, 9 s), plus one broken folder."""
    for night in (3, 0, 4, 1, 2):
        exps = (replace(POD_KILL, recovery_s=5.0 + night), replace(DB_FAILOVER, lost=0 if night != 2 else 3))
        write_synthetic_run(root, f"night-{night}", exps, started=STARTED + night * DAY, seed=night)
    (root / "broken").mkdir()
    (root / "broken" / "run.json").write_text("{")
    (root / "not-a-run").mkdir()
    (root / "capacity-run").mkdir()
    (root / "capacity-run" / "run.json").write_text('{"kind": "capacity", "verdict": "passed", "experiments": []}')
    return root


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """The results folder of :func:`nightly_results` in the test's temp folder."""
    return nightly_results(tmp_path)


def test_load_runs_sorted_and_skipping_broken(results: Path) -> None:
    """Runs come oldest first; the broken run.json is named in a note, the folder without run.json ignored, a
    capacity run left out unless every kind is asked for."""
    runs, skipped = load_runs(results)
    assert [r.run_id for r in runs] == [f"night-{i}" for i in range(5)]
    assert len(skipped) == 1 and "broken/run.json:1: not valid JSON" in skipped[0]
    last_two, _ = load_runs(results, last=2)
    assert [r.run_id for r in last_two] == ["night-3", "night-4"]
    every, _ = load_runs(results, kinds=None)
    assert len(every) == 6 and any(r.kind == "capacity" for r in every)
    with pytest.raises(ConfigError, match="not a directory"):
        load_runs(results / "nope")


def test_trend_figure_known_series(results: Path) -> None:
    """The pod-kill line carries 5..9 s in run order; the integrity bar of night 2 is 3 lost messages."""
    runs, _ = load_runs(results)
    fig = trend_figure(runs)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines() if isinstance(ln, Line2D)}
    assert list(np.asarray(lines["pod-kill"].get_ydata(), dtype=float)) == [5.0, 6.0, 7.0, 8.0, 9.0]
    heights = [p.get_height() for p in fig.axes[3].patches[:5]]
    assert heights == [0, 0, 3, 0, 0]
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == ["recovery time (s)", "peak p95 (ms)", "error rate (%)", "integrity problems\n(messages)"]
    assert fig.get_suptitle() == "Resilience trend: 5 runs, 0 passed"


def test_trend_markdown_newest_first(results: Path) -> None:
    """The table lists the newest run first and each experiment's recovery against its target."""
    runs, skipped = load_runs(results)
    md = trend_markdown(runs, skipped)
    rows = [line for line in md.splitlines() if line.startswith("| night-")]
    assert rows[0].startswith("| night-4 |") and "9.0 s of 30 s" in rows[0]
    assert "Skipped (unreadable run.json):" in md


def test_recovery_spread_and_flips(results: Path) -> None:
    """Each experiment's recovery min/median/max over the runs and how many it passed; a flip is named."""
    runs, _ = load_runs(results)
    spread = {r["name"]: r for r in recovery_spread(runs)}
    pod = spread["pod-kill"]
    assert (pod["runs"], pod["min_s"], pod["median_s"], pod["max_s"]) == (5, 5.0, 7.0, 9.0)
    md = spread_markdown(runs)
    assert "## Recovery spread (5 runs)" in md
    assert f"| pod-kill | {pod['passed']} of 5 | 5.0 s | 7.0 s | 9.0 s | 30.0 s |" in md
    flipped = [replace(POD_KILL, verdict=v, recovery_s=4.0) for v in ("passed", "failed", "passed")]
    for i, exp in enumerate(flipped):
        write_synthetic_run(results, f"flip-{i}", (exp,), started=STARTED + (10 + i) * DAY, seed=i)
    last3, _ = load_runs(results, last=3)
    assert "| pod-kill | 2 of 3 (verdict flipped) | 4.0 s | 4.0 s | 4.0 s |" in spread_markdown(last3)
    assert spread_markdown([]) == ""
