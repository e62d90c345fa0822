"""The capacity orchestrator's logic: order, early stop, time budget, reverts and partial results.

Steps are measured by a synthetic function of users (the real measurement needs a running stack and is
covered by tests/integration/test_capacity_run.py); time is a fake clock the measurement advances.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from resilience.analysis.capacity import StepResult
from resilience.capacity.conditions import StepHooks
from resilience.capacity.plan import CapacityPlan, ConditionPlan
from resilience.capacity.result import CapacityResult, read_capacity
from resilience.capacity.runner import RunInfo, run_capacity, step_cost_s

pytestmark = pytest.mark.unit

KNEES = {"healthy": 650, "chat-replica-down": 420, "redis-down": 0}


def _plan(**overrides: object) -> CapacityPlan:
    data: dict[str, object] = {
        "name": "t",
        "load": {"spawn_rate": 100, "warmup_s": 2},
        "steps": {"from": 100, "to": 1000, "by": 100},
        "hold_s": 10,
        "repeats": 2,
        "budget_s": 100_000,
        "conditions": [{"name": n, "fault": "none"} for n in KNEES],
    }
    data.update(overrides)
    return CapacityPlan.model_validate(data)


class FakeRig:
    """A synthetic system: p95 crosses 100 ms at each condition's known knee; time advances per step."""

    def __init__(self, plan: CapacityPlan, overhead_s: float = 3.0) -> None:
        self.plan = plan
        self.now = 0.0
        self.overhead_s = overhead_s
        self.log: list[str] = []
        self.interrupt_at: tuple[str, int] | None = None

    def clock(self) -> float:
        return self.now

    @contextlib.contextmanager
    def engage(self, cond: ConditionPlan) -> Iterator[StepHooks]:
        self.log.append(f"apply {cond.name}")
        try:
            yield StepHooks()
        finally:
            self.log.append(f"revert {cond.name}")

    def measure(self, cond: ConditionPlan, users: int, hooks: StepHooks, out: Path) -> StepResult:
        if self.interrupt_at == (cond.name, users):
            raise KeyboardInterrupt
        self.log.append(f"{cond.name} {users}")
        self.now += step_cost_s(self.plan, users) + self.overhead_s
        knee = KNEES[cond.name]
        p95 = 500.0 if knee == 0 else 20 + 80 * (users / knee) ** 6
        return StepResult(users=users, p95_ms=p95, error_rate=0.0, throughput=users / 2, requests=users * 5)


def _run(
    tmp_path: Path, plan: CapacityPlan, rig: FakeRig, conditions: list[str] | None = None
) -> tuple[CapacityResult, list[str]]:
    info = RunInfo(run_id="r1", scenario="scenarios/capacity.yaml", target="local", run_dir=tmp_path)
    lines: list[str] = []
    result = run_capacity(
        plan,
        info,
        engage=rig.engage,
        measure=rig.measure,
        progress=lines.append,
        clock=rig.clock,
        conditions=conditions,
    )
    return result, lines


def test_knees_per_condition_and_repeat_major_order(tmp_path: Path) -> None:
    """Every condition gets its known knee in every repeat, repeat 1 of all conditions before repeat 2."""
    plan = _plan()
    rig = FakeRig(plan)
    result, _ = _run(tmp_path, plan, rig)
    assert result.status == "completed"
    assert {c.name: [r.knee_users for r in c.repeats] for c in result.conditions} == {
        "healthy": [600, 600],
        "chat-replica-down": [400, 400],
        "redis-down": [0, 0],
    }
    applies = [e for e in rig.log if e.startswith("apply")]
    assert applies == [f"apply {n}" for n in KNEES] * 2
    assert read_capacity(tmp_path) == result


def test_ladder_stops_after_a_clear_break(tmp_path: Path) -> None:
    """No step runs after the one that clearly breaks the SLO (700 users: p95 ~ 140 ms fails, 800 breaks)."""
    plan = _plan(repeats=1, conditions=[{"name": "healthy", "fault": "none"}])
    rig = FakeRig(plan)
    result, lines = _run(tmp_path, plan, rig)
    assert [e for e in rig.log if e.startswith("healthy")] == [f"healthy {u}" for u in range(100, 900, 100)]
    rep = result.condition("healthy").repeats[0]
    assert (rep.stop_reason, rep.break_users) == ("clear-break", 700)
    assert any("knee 600 users" in line for line in lines)


def test_failing_lowest_step_stops_at_once(tmp_path: Path) -> None:
    """A condition broken from the first step measures one step and reports below range."""
    plan = _plan(repeats=1, conditions=[{"name": "redis-down", "fault": "none"}])
    result, _ = _run(tmp_path, plan, FakeRig(plan))
    cond = result.condition("redis-down")
    assert len(cond.repeats[0].steps) == 1
    assert cond.knee is not None and cond.knee.below_range


def test_budget_cuts_the_run_and_is_reported(tmp_path: Path) -> None:
    """With budget for about ten steps, later steps are not started and the status says budget-exhausted."""
    plan = _plan(budget_s=150)
    rig = FakeRig(plan)
    result, lines = _run(tmp_path, plan, rig)
    assert result.status == "budget-exhausted"
    assert rig.now <= 150
    assert any("not started" in line or "skipped" in line for line in lines)
    assert read_capacity(tmp_path).status == "budget-exhausted"


def test_budget_estimate_learns_the_real_step_overhead(tmp_path: Path) -> None:
    """Steps that take far longer than nominal shrink what is started, so the run never overshoots."""
    plan = _plan(budget_s=400, repeats=3)
    rig = FakeRig(plan, overhead_s=30.0)
    _run(tmp_path, plan, rig)
    assert rig.now <= 400


def test_interrupt_reverts_the_condition_and_keeps_partial_results(tmp_path: Path) -> None:
    """Ctrl-C mid-ladder reverts the condition, writes capacity.json as interrupted and propagates."""
    plan = _plan()
    rig = FakeRig(plan)
    rig.interrupt_at = ("chat-replica-down", 300)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, plan, rig)
    assert rig.log[-1] == "revert chat-replica-down"
    saved = read_capacity(tmp_path)
    assert saved.status == "interrupted"
    assert [r.knee_users for r in saved.condition("healthy").repeats] == [600]


def test_error_in_measurement_is_aborted(tmp_path: Path) -> None:
    """An error while measuring reverts the condition, writes status aborted and propagates."""
    plan = _plan()
    rig = FakeRig(plan)

    def broken(cond: ConditionPlan, users: int, hooks: StepHooks, out: Path) -> StepResult:
        raise RuntimeError("load died")

    info = RunInfo(run_id="r1", scenario="s", target="local", run_dir=tmp_path)
    with pytest.raises(RuntimeError, match="load died"):
        run_capacity(plan, info, engage=rig.engage, measure=broken, clock=rig.clock)
    assert rig.log == ["apply healthy", "revert healthy"]
    assert read_capacity(tmp_path).status == "aborted"


def test_only_named_conditions_run(tmp_path: Path) -> None:
    """--conditions restricts the run (and capacity.json) to the named conditions."""
    plan = _plan(repeats=1)
    result, _ = _run(tmp_path, plan, FakeRig(plan), conditions=["chat-replica-down"])
    assert [c.name for c in result.conditions] == ["chat-replica-down"]


def test_condition_slo_override_moves_the_knee(tmp_path: Path) -> None:
    """A condition allowed p95 < 300 ms reports a higher knee than under the plan's 100 ms."""
    conds = [
        {"name": "healthy", "fault": "none"},
        {"name": "chat-replica-down", "fault": "none", "slo": {"p95_ms": 300}},
    ]
    plan = _plan(repeats=1, conditions=conds)
    result, _ = _run(tmp_path, plan, FakeRig(plan))
    assert result.condition("chat-replica-down").repeats[0].knee_users == 500
    assert result.condition("chat-replica-down").slo["p95_ms"] == 300


class _FakeLoad:
    """A Locust run that records its stop; ``alive`` as long as it was not stopped."""

    def __init__(self) -> None:
        self.stopped = 0

    def alive(self) -> bool:
        return not self.stopped

    def stop(self) -> None:
        self.stopped += 1


@pytest.mark.parametrize("moment", ["start", "stop"])
def test_a_sigterm_while_the_step_load_starts_or_stops_still_stops_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moment: str
) -> None:
    """A signal that lands while the step's Locust run is being started (forked, not yet handed back) or
    stopped does not cut that short: the load is stopped once, then the run is interrupted. Before, a
    fresh-clone CI run found a Locust process alive after the capacity run had exited 130."""
    import signal  # noqa: PLC0415

    from resilience.capacity import measure  # noqa: PLC0415
    from resilience.runner.signals import SignalGate  # noqa: PLC0415

    gate = SignalGate()
    load = _FakeLoad()

    def start(*_args: object, **_kwargs: object) -> _FakeLoad:
        if moment == "start":
            gate.handle(signal.SIGTERM, None)  # raises unless deferred
        return load

    def stop() -> None:
        if moment == "stop":
            gate.handle(signal.SIGTERM, None)
        load.stopped += 1

    monkeypatch.setattr(measure, "start_target_load", start)
    monkeypatch.setattr(load, "stop", stop)
    plan = _plan(hold_s=0.01, load={"spawn_rate": 1000, "warmup_s": 0})
    step = measure.StepMeasurer(target=None, plan=plan, gate=gate)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        step(plan.conditions[0], 1, StepHooks(), tmp_path)
    assert load.stopped == 1
