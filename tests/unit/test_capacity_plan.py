"""Capacity plans: the shipped scenarios load, bad files give one line naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from resilience.capacity.measure import step_result
from resilience.capacity.plan import FaultKind, load_capacity_plan
from resilience.capacity.session import estimate_s, plan_lines, run_json
from resilience.errors import ConfigError
from tests.unit.test_capacity_result import synthetic_result

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["capacity.yaml", "capacity-ci.yaml"])
def test_shipped_capacity_scenarios_load(name: str) -> None:
    """Every scenarios/capacity*.yaml validates; the CI one is tiny (even a search to the top fits 100 s)."""
    plan = load_capacity_plan(ROOT / "scenarios" / name).plan
    low, high = plan.users_range()
    assert plan.ladder() is None and 1 <= low <= high
    if name == "capacity-ci.yaml":
        assert estimate_s(plan) < 100
        assert [c.fault for c in plan.conditions] == [FaultKind.NONE, FaultKind.DB_LATENCY]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"steps": [10, 20], "search": {"start": 10}}, "give either steps (a fixed ladder) or search, not both"),
        ({"search": {"start": 5, "min": 10}}, "need min <= start <= max"),
        ({"search": {"resolution": 0}}, "search.resolution"),
    ],
)
def test_bad_search_settings_are_one_line_errors(tmp_path: Path, extra: dict[str, object], message: str) -> None:
    """Both a ladder and a search, or a search whose range is empty, is a ConfigError naming the problem."""
    data = {"name": "t", "conditions": [{"name": "healthy", "fault": "none"}], **extra}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_capacity_plan(path)


def test_full_plan_covers_the_five_conditions_of_the_issue() -> None:
    """The capacity scenario measures healthy, replica down, +50 ms DB, DB failover and Redis down."""
    plan = load_capacity_plan(ROOT / "scenarios" / "capacity.yaml").plan
    assert [c.fault for c in plan.conditions] == list(FaultKind)
    latency = next(c for c in plan.conditions if c.fault is FaultKind.DB_LATENCY)
    assert latency.latency_ms == 50
    assert plan.target_users == 10_000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nsteps: [100, 50]\nconditions: [{name: a, fault: none}]\n", ":2: steps: Value error, steps must"),
        ("name: x\nsteps: [1]\nconditions:\n  - {name: a, fault: db-lag}\n", ":4: conditions.0.fault: Input should be"),
        ("name: x\nsteps: {from: 1, to: 9}\nconditions: [{name: a, fault: none}]\n", ":2: steps.by: required field"),
        (
            "name: x\nsteps: [1]\nconditions:\n  - {name: a, fault: none, slo: {p95: 3}}\n",
            ":4: conditions.0.slo.p95: unknown",
        ),
        ("name: x\nsteps: [1]\nconditions: [{name: a, fault: none}, {name: a, fault: none}]\n", "used twice"),
        (
            "name: x\nsteps: [1]\nhold_s: -1\nconditions: [{name: a, fault: none}]\n",
            ":3: hold_s: Input should be greater",
        ),
        ("name: x\nsteps: {from: 1, to: 100000, by: 1}\nconditions: [{name: a, fault: none}]\n", "at most 200"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("name: [unclosed\n", "invalid YAML"),
    ],
)
def test_bad_plan_is_one_config_error_line(tmp_path: Path, text: str, message: str) -> None:
    """A malformed plan raises ConfigError with file:line: field: message, on one line."""
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_capacity_plan(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_plan_lines_state_ladder_budget_and_conditions() -> None:
    """The dry run names the search, the budget with its estimate, every condition's fault, and says which
    condition is judged on recovery."""
    loaded = load_capacity_plan(ROOT / "scenarios" / "capacity.yaml")
    text = "\n".join(plan_lines(loaded))
    assert "search: from 10 users x2 until the SLO clearly breaks (at most 20,000), then bisect to 5%" in text
    assert "budget 2400 s" in text
    assert "breaks the SLO by design: judged on recovery within 15 s" in text
    assert '"kind": "db-failover", "mode": "primary-crash"' in text


def test_step_result_takes_ack_latency_from_the_window_and_connects_from_the_whole_step() -> None:
    """p95 is the window's send->ack p95, errors from the window, connect success from spawn to end."""
    window = {
        "requests": 300,
        "error_rate": 0.01,
        "p95_ms": 80.0,
        "ack_count": 250,
        "ack_p50_ms": 9.0,
        "ack_p95_ms": 40.0,
        "ack_p99_ms": 70.0,
    }
    whole = {"connects": 50, "connect_success": 0.98}
    step = step_result(50, window, whole, started=100.0, ended=110.0)
    assert (step.p50_ms, step.p95_ms, step.p99_ms) == (9.0, 40.0, 70.0)
    assert (step.requests, step.throughput, step.error_rate) == (300, 30.0, 0.01)
    assert (step.connects, step.connect_success) == (50, 0.98)
    assert step_result(50, window, whole, started=100.0, ended=110.0, latency="all").p95_ms == 80.0


def test_step_result_without_requests_has_no_latency() -> None:
    """A window with no request measured has p95 None (the analysis then counts it as broken)."""
    step = step_result(50, {"requests": 0, "p95_ms": None}, {}, started=0.0, ended=5.0)
    assert (step.p95_ms, step.requests, step.connect_success) == (None, 0, None)


def test_run_json_carries_the_run_contract_and_the_knees() -> None:
    """run.json of a capacity run has the contract keys, no experiments, and each condition's knee."""
    loaded = load_capacity_plan(ROOT / "scenarios" / "capacity.yaml")
    result = synthetic_result()
    doc = run_json(result, loaded)
    assert {"run_id", "scenario", "target", "started", "ended", "verdict", "experiments", "load"} <= set(doc)
    assert (doc["kind"], doc["verdict"], doc["experiments"]) == ("capacity", "passed", [])
    healthy = result.condition("healthy").knee
    assert healthy is not None
    assert doc["capacity"]["knees"]["healthy"]["users"] == healthy.users
    assert doc["capacity"]["knees"]["db-failover"]["below_range"] is True
