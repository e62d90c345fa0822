"""capacity.json: condition summaries, headroom, round trip and clear errors on malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from resilience.analysis.capacity import StepResult, StepVerdict, should_stop
from resilience.capacity.result import (
    CapacityResult,
    read_capacity,
    repeat_result,
    summarize_condition,
    write_capacity,
)
from resilience.errors import ConfigError
from tests.unit.test_capacity_analysis import SLO

pytestmark = pytest.mark.unit


TRUE_KNEES = {"healthy": 2600, "chat-replica-down": 1750, "db-latency-50ms": 900, "db-failover": 0, "redis-down": 2300}


def _synthetic_step(users: int, knee_at: float, rng: np.random.Generator) -> StepResult:
    base = 60.0 if knee_at <= 0 else 15.0 + 85.0 * (users / knee_at) ** 5
    p95 = base * rng.uniform(0.9, 1.1) if knee_at > 0 else 400.0 * rng.uniform(0.9, 1.1)
    capacity = max(knee_at, 400) * 1.1
    throughput = 0.5 * min(users, capacity) * rng.uniform(0.97, 1.03)
    return StepResult(
        users=users,
        p50_ms=p95 / 3,
        p95_ms=p95,
        p99_ms=p95 * 1.6,
        error_rate=0.0 if p95 < 150 else 0.02,
        throughput=throughput,
        requests=int(throughput * 20),
        connect_success=1.0,
        connects=users,
    )


def synthetic_result(seed: int = 7, repeats: int = 3) -> CapacityResult:
    """A capacity run over five conditions with known knees, stopped early as the orchestrator would."""
    rng = np.random.default_rng(seed)
    ladder = list(range(250, 4001, 250))
    conditions = []
    for name, knee_at in TRUE_KNEES.items():
        reps = []
        for r in range(1, repeats + 1):
            steps: list[StepResult] = []
            knee_this_repeat = knee_at * rng.uniform(0.9, 1.1)  # the machine differs a little between repeats
            for users in ladder:
                steps.append(_synthetic_step(users, knee_this_repeat, rng))
                if should_stop(steps, SLO):
                    break
            reason = "clear-break" if len(steps) < len(ladder) else None
            reps.append(repeat_result(r, steps, SLO, stop_reason=reason))
        conditions.append(summarize_condition(name, reps, SLO, target_users=10_000, fault={"kind": name}))
    return CapacityResult(
        run_id="20260101T000000Z-capacity",
        scenario="scenarios/capacity.yaml",
        target="local",
        started=1.0,
        ended=2.0,
        status="completed",
        target_users=10_000,
        slo={"p95_ms": 100.0, "error_rate": 0.001, "ws_connect_success": 0.99},
        plan={"steps": ladder, "repeats": repeats},
        conditions=conditions,
    )


def test_synthetic_knees_land_on_the_last_step_under_the_true_knee() -> None:
    """Each repeat's knee sits within one 250-user step under its condition's known crossing (+-10%)."""
    result = synthetic_result()
    for name, true_knee in TRUE_KNEES.items():
        knee = result.condition(name).knee
        assert knee is not None
        for value in knee.values:
            assert 0.9 * true_knee - 250 <= value <= 1.1 * true_knee, (name, value)


def test_failing_from_the_start_is_below_range_with_full_shortfall() -> None:
    """A condition that fails at the lowest step reports knee 0, below range, and -10,000 headroom."""
    cond = synthetic_result().condition("db-failover")
    assert cond.knee is not None and cond.headroom is not None
    assert (cond.knee.users, cond.knee.below_range, cond.headroom.users) == (0.0, True, -10_000.0)
    assert all(r.stop_reason == "clear-break" and len(r.steps) == 1 for r in cond.repeats)


def test_step_records_keep_ratio_and_verdict() -> None:
    """Each recorded step carries its SLO ratio and verdict; the measurement round-trips."""
    rep = repeat_result(
        1,
        [StepResult(100, 50.0, 0.0, 40.0, 800), StepResult(200, 250.0, 0.0, 60.0, 1200)],
        SLO,
        stop_reason="clear-break",
    )
    assert [s.verdict for s in rep.steps] == [StepVerdict.OK, StepVerdict.BROKEN]
    assert rep.steps[0].ratio == pytest.approx(0.5)
    assert rep.steps[1].to_step() == StepResult(200, 250.0, 0.0, 60.0, 1200)
    assert (rep.knee_users, rep.break_users) == (100, 200)


def test_empty_step_has_null_ratio_in_json() -> None:
    """A step that measured nothing is stored with ratio null (JSON has no infinity)."""
    rep = repeat_result(1, [StepResult(100, None, 0.0, 0.0, 0)], SLO, stop_reason="clear-break")
    assert rep.model_dump(mode="json")["steps"][0]["ratio"] is None


def test_condition_without_repeats_has_no_knee() -> None:
    """A condition the budget never reached has null knee and headroom, not a fake 0."""
    cond = summarize_condition("redis-down", [], SLO, target_users=10_000, fault={"kind": "redis-down"})
    assert (cond.knee, cond.headroom, cond.repeats) == (None, None, [])


def test_capacity_json_round_trip(tmp_path: Path) -> None:
    """write_capacity then read_capacity gives back the same result, and the file is plain JSON."""
    result = synthetic_result()
    path = write_capacity(result, tmp_path / "run")
    assert path.name == "capacity.json"
    data = json.loads(path.read_text())
    assert data["format"] == "resilience.capacity/1"
    assert data["conditions"][0]["knee"]["method"] == "student-t"
    assert read_capacity(tmp_path / "run") == result


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "capacity.json:1: not JSON"),
        ('{"run_id": "x"}', "capacity.json: field scenario: Field required"),
        (
            '{"run_id": "x", "scenario": "s", "target": "local", "started": 1, "ended": 2, "status": "weird", '
            '"target_users": 1, "slo": {}, "plan": {}, "conditions": []}',
            "field status",
        ),
    ],
)
def test_malformed_capacity_json_is_one_clear_config_error(tmp_path: Path, content: str, message: str) -> None:
    """A broken capacity.json raises ConfigError naming the file and the field, in one line."""
    path = tmp_path / "capacity.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        read_capacity(path)
    assert "\n" not in str(info.value)


def test_missing_capacity_json_is_config_error(tmp_path: Path) -> None:
    """A run folder without capacity.json is a clear ConfigError."""
    with pytest.raises(ConfigError, match="cannot read"):
        read_capacity(tmp_path)
