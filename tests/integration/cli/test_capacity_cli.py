"""``resilience capacity`` (dry run, bad input) and capacity runs through ``compare`` and ``trend``, as a child
process."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.capacity.result import summarize_condition
from tests.support.cli import run_cli
from tests.unit.test_capacity_analysis import SLO
from tests.unit.test_capacity_result import synthetic_result
from tests.unit.test_capacity_trend import scaled_knee, write_capacity_run

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_cli_dry_run_prints_the_plan_and_touches_nothing(tmp_path: Path) -> None:
    """``resilience capacity --dry-run`` exits 0, prints the plan and creates no results folder."""
    r = run_cli(
        "capacity", str(ROOT / "scenarios" / "capacity-ci.yaml"), "--dry-run", "--results-dir", str(tmp_path / "r")
    )
    assert r.returncode == 0, r.stderr
    assert "capacity plan capacity-ci" in r.stdout
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "nope"], "--only nope: not a condition of"),
        (["--repeats", "0"], "Invalid value for '--repeats'"),
        (["--budget", "abc"], "Invalid value for '--budget'"),
    ],
)
def test_cli_bad_input_exits_3_with_one_line(args: list[str], message: str) -> None:
    """Wrong flags or values exit 3 with one 'error:' line and no traceback."""
    r = run_cli("capacity", str(ROOT / "scenarios" / "capacity-ci.yaml"), "--dry-run", *args)
    assert r.returncode == 3
    assert r.stderr.startswith("error: ") and message in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_missing_scenario_exits_3(tmp_path: Path) -> None:
    """A scenario file that does not exist exits 3 naming it."""
    r = run_cli("capacity", str(tmp_path / "nope.yaml"), "--dry-run")
    assert r.returncode == 3
    assert "nope.yaml" in r.stderr and "Traceback" not in r.stderr


def test_cli_compare_exits_1_when_a_knee_regressed(tmp_path: Path) -> None:
    """``resilience compare`` of two capacity runs exits 1 and names the condition whose knee fell."""
    base = synthetic_result()
    a = write_capacity_run(tmp_path, "a", base, 1.0)
    b = write_capacity_run(tmp_path, "b", scaled_knee(base, "redis-down", 0.4), 2.0)
    r = run_cli("compare", str(a), str(b), timeout=180)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "capacity:redis-down" in r.stdout


def test_cli_trend_writes_capacity_chart_and_table(tmp_path: Path) -> None:
    """``resilience trend`` over capacity runs writes capacity-trend.png and a knee table in trend.md."""
    base = synthetic_result()
    for i, factor in enumerate((1.0, 0.9, 1.1)):
        write_capacity_run(tmp_path, f"run{i}", scaled_knee(base, "healthy", factor), 1000.0 + i)
    r = run_cli("trend", str(tmp_path), timeout=180)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "capacity-trend.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "trend.md").read_text()
    assert "## Capacity trend (3 runs, knee in users)" in md
    assert "| run2 | completed |" in md


def test_cli_dry_run_states_the_search_and_the_failover_judgement() -> None:
    """The full plan's dry run names the search (x2, bisect to 5 %) and says db-failover is judged on recovery."""
    r = run_cli("capacity", str(ROOT / "scenarios" / "capacity.yaml"), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "search: from 10 users x2 until the SLO clearly breaks (at most 20,000), then bisect to 5%" in r.stdout
    assert "db-failover" in r.stdout and "judged on recovery within 15 s" in r.stdout


def test_cli_plan_with_both_a_ladder_and_a_search_exits_3(tmp_path: Path) -> None:
    """A plan giving both steps and search is refused with one line naming the file, nothing run."""
    plan = tmp_path / "both.yaml"
    plan.write_text("name: both\nsteps: [10, 20]\nsearch: {start: 10}\nconditions:\n  - {name: healthy, fault: none}\n")
    r = run_cli("capacity", str(plan), "--dry-run", "--results-dir", str(tmp_path / "r"))
    assert r.returncode == 3
    assert "both.yaml" in r.stderr and "give either steps (a fixed ladder) or search, not both" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "r").exists()


def test_cli_report_of_lower_bounds_says_so_and_compare_does_not_call_it_a_regression(tmp_path: Path) -> None:
    """A run whose searches all held to the top: the report says '>= N ... lower bound' and 'unknown' headroom,
    and ``compare`` against a run with found knees above the bound calls nothing regressed."""
    base = synthetic_result()
    held = base.model_copy(
        update={
            "conditions": [
                summarize_condition(
                    c.name,
                    [r.model_copy(update={"censored": True, "break_users": None}) for r in c.repeats[:1]],
                    SLO,
                    target_users=10_000,
                    fault=c.fault,
                )
                for c in base.conditions
                if c.knee is not None and not c.knee.below_range
            ]
        }
    )
    a = write_capacity_run(tmp_path, "a", base, 1.0)
    b = write_capacity_run(tmp_path, "b", held, 2.0)
    r = run_cli("report", str(b), timeout=180)
    assert r.returncode == 0, r.stderr
    summary = (b / "summary.md").read_text()
    assert "a lower bound: no repeat found the knee" in summary
    assert "unknown: the search stopped at" in summary
    r = run_cli("compare", str(a), str(b), timeout=180)
    assert "regressed" not in r.stdout, r.stdout
