"""Capacity in compare and trend: knee changes beyond noise are regressions; trend charts knees over runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from resilience.capacity.plan import load_capacity_plan
from resilience.capacity.result import CapacityResult, KneeSummary, write_capacity
from resilience.capacity.session import run_json
from resilience.report.compare import capacity_changes, knee_status
from resilience.report.model import load_run
from tests.unit.test_capacity_result import synthetic_result

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _knee(users: float, low: float | None = None, high: float | None = None) -> KneeSummary:
    return KneeSummary(
        users=users,
        ci_low=low,
        ci_high=high,
        n=3,
        confidence=0.95,
        method="student-t",
        values=[int(users)] * 3,
        censored=False,
        below_range=False,
    )


def _write_run(root: Path, name: str, result: CapacityResult, started: float) -> Path:
    run_dir = root / name
    result = result.model_copy(update={"run_id": name, "started": started})
    write_capacity(result, run_dir)
    doc = run_json(result, load_capacity_plan(ROOT / "scenarios" / "capacity.yaml"))
    (run_dir / "run.json").write_text(json.dumps(doc))
    return run_dir


def _scaled(result: CapacityResult, name: str, factor: float) -> CapacityResult:
    conds = []
    for cond in result.conditions:
        knee = cond.knee
        if cond.name == name and knee is not None:
            scaled = {
                k: None if getattr(knee, k) is None else getattr(knee, k) * factor
                for k in ("users", "ci_low", "ci_high")
            }
            cond = cond.model_copy(update={"knee": knee.model_copy(update=scaled)})  # noqa: PLW2901
        conds.append(cond)
    return result.model_copy(update={"conditions": conds})


def test_knee_drop_beyond_tolerance_and_intervals_is_a_regression() -> None:
    """2,000 -> 1,500 users with disjoint intervals regressed; inside overlapping intervals it is noise."""
    assert knee_status(_knee(2000, 1900, 2100), _knee(1500, 1400, 1600), 0.10) == "regressed"
    assert knee_status(_knee(2000, 1500, 2500), _knee(1700, 1400, 2000), 0.10) == "unchanged"
    assert knee_status(_knee(1500), _knee(2000), 0.10) == "improved"
    assert knee_status(_knee(2000), _knee(1900), 0.10) == "unchanged"


def test_compare_lists_each_condition_knee(tmp_path: Path) -> None:
    """capacity_changes gives one change per condition, the halved one regressed."""
    base = synthetic_result()
    a = load_run(_write_run(tmp_path, "a", base, 1.0))
    b = load_run(_write_run(tmp_path, "b", _scaled(base, "healthy", 0.5), 2.0))
    changes = {c.experiment: c for c in capacity_changes(a, b)}
    assert changes["capacity:healthy"].status == "regressed"
    assert changes["capacity:db-latency-50ms"].status == "unchanged"
    assert changes["capacity:db-failover"].before == "below lowest step"


def test_compare_without_capacity_on_one_side_is_not_comparable(tmp_path: Path) -> None:
    """A capacity run compared with a run without capacity.json says so instead of inventing a change."""
    a = load_run(_write_run(tmp_path, "a", synthetic_result(), 1.0))
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "run.json").write_text(json.dumps({"run_id": "plain", "verdict": "passed", "experiments": []}))
    (change,) = capacity_changes(a, load_run(plain))
    assert change.status == "not comparable" and "plain" in change.note


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resilience", *args], capture_output=True, text=True, timeout=180)


def test_cli_compare_exits_1_when_a_knee_regressed(tmp_path: Path) -> None:
    """``resilience compare`` of two capacity runs exits 1 and names the condition whose knee fell."""
    base = synthetic_result()
    a = _write_run(tmp_path, "a", base, 1.0)
    b = _write_run(tmp_path, "b", _scaled(base, "redis-down", 0.4), 2.0)
    r = _cli("compare", str(a), str(b))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "capacity:redis-down" in r.stdout


def test_cli_trend_writes_capacity_chart_and_table(tmp_path: Path) -> None:
    """``resilience trend`` over capacity runs writes capacity-trend.png and a knee table in trend.md."""
    base = synthetic_result()
    for i, factor in enumerate((1.0, 0.9, 1.1)):
        _write_run(tmp_path, f"run{i}", _scaled(base, "healthy", factor), 1000.0 + i)
    r = _cli("trend", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "capacity-trend.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "trend.md").read_text()
    assert "## Capacity trend (3 runs, knee in users)" in md
    assert "| run2 | completed |" in md
