"""Capacity in compare and trend: knee changes beyond noise are regressions; trend charts knees over runs."""

from __future__ import annotations

import json
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


def write_capacity_run(root: Path, name: str, result: CapacityResult, started: float) -> Path:
    run_dir = root / name
    result = result.model_copy(update={"run_id": name, "started": started})
    write_capacity(result, run_dir)
    doc = run_json(result, load_capacity_plan(ROOT / "scenarios" / "capacity.yaml"))
    (run_dir / "run.json").write_text(json.dumps(doc))
    return run_dir


def scaled_knee(result: CapacityResult, name: str, factor: float) -> CapacityResult:
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
    a = load_run(write_capacity_run(tmp_path, "a", base, 1.0))
    b = load_run(write_capacity_run(tmp_path, "b", scaled_knee(base, "healthy", 0.5), 2.0))
    changes = {c.experiment: c for c in capacity_changes(a, b)}
    assert changes["capacity:healthy"].status == "regressed"
    assert changes["capacity:db-latency-50ms"].status == "unchanged"
    assert changes["capacity:db-failover"].before == "below lowest step"


def test_compare_without_capacity_on_one_side_is_not_comparable(tmp_path: Path) -> None:
    """A capacity run compared with a run without capacity.json says so instead of inventing a change."""
    a = load_run(write_capacity_run(tmp_path, "a", synthetic_result(), 1.0))
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "run.json").write_text(json.dumps({"run_id": "plain", "verdict": "passed", "experiments": []}))
    (change,) = capacity_changes(a, load_run(plain))
    assert change.status == "not comparable" and "plain" in change.note
