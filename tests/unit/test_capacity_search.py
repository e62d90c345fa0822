"""The knee search: finds a synthetic service's known knee within the resolution and the budget; lower bounds
stay out of the interval; a failover condition is judged on its time to recover; inconclusive steps stop it.

The synthetic service's p95 is 20 + 80 (users / K)^6 ms: it crosses the 100 ms SLO at exactly K users, and
at 2^(1/6) K it is twice the limit (a clear break). Time is a fake clock the measurement advances.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.analysis.capacity import StepResult, StepVerdict
from resilience.capacity.conditions import StepHooks
from resilience.capacity.measure import recovery_s
from resilience.capacity.plan import CapacityPlan, ConditionPlan
from resilience.capacity.result import (
    CapacityResult,
    RepeatResult,
    condition_line,
    recovery_by_users,
    repeat_result,
    summarize_condition,
)
from resilience.capacity.runner import RunInfo, run_capacity, step_cost_s
from resilience.capacity.search import GeometricSearch, Judge
from resilience.load.events import EventWriter, Kind
from resilience.report.capacity import capacity_facts
from resilience.report.charts.capacity import headroom_vs_target
from resilience.report.compare import knee_status
from resilience.slo import Slo

pytestmark = pytest.mark.unit

SLO = Slo(p95_ms=100.0, error_rate=0.001, ws_connect_success=0.99)
RESOLUTION = 0.05


def service(knee: float, *, generator_limit: int | None = None) -> Callable[[int], StepResult]:
    """A service whose SLO breaks at exactly ``knee`` users; steps above ``generator_limit`` are inconclusive."""

    def measure(users: int) -> StepResult:
        p95 = 20 + 80 * (users / knee) ** 6
        saturated = generator_limit is not None and users > generator_limit
        return StepResult(
            users=users,
            p95_ms=p95,
            error_rate=0.0,
            throughput=users / 5,
            requests=users * 4,
            conclusive=not saturated,
            inconclusive_reason="load generator at 97% CPU" if saturated else None,
        )

    return measure


def search_until_done(search: GeometricSearch, measure: Callable[[int], StepResult]) -> list[StepResult]:
    steps: list[StepResult] = []
    while (users := search.next_users(steps)) is not None:
        assert users not in {s.users for s in steps}, f"{users} measured twice"
        steps.append(measure(users))
        assert len(steps) < 60, "the search does not converge"
    return steps


@settings(max_examples=150, deadline=None)
@given(knee=st.floats(min_value=2.0, max_value=19_000.0), start=st.integers(min_value=1, max_value=500))
def test_search_finds_a_known_knee_within_the_resolution(knee: float, start: int) -> None:
    """From any start, the knee found holds at most K and the first failure is within 5 % above it."""
    search = GeometricSearch(Judge(SLO), start=start, resolution=RESOLUTION, max_users=20_000)
    steps = search_until_done(search, service(knee))
    rep = repeat_result(1, steps, SLO, stop_reason=search.reason)
    assert search.reason == "resolved"
    assert rep.found and rep.break_users is not None
    assert rep.knee_users <= knee < rep.break_users
    # integer users: the bracket is the resolution, or adjacent user counts
    assert rep.break_users <= max(rep.knee_users * (1 + RESOLUTION), rep.knee_users + 1)
    growth = math.ceil(abs(math.log2(knee / start))) + 2
    assert len(steps) <= growth + 6, [s.users for s in steps]


def test_search_from_10_to_a_knee_of_650_takes_a_dozen_steps() -> None:
    """10, 20, ..., 640 hold, 1,280 breaks clearly, then bisection: 650 pinned in 13 steps at most."""
    search = GeometricSearch(Judge(SLO), start=10, resolution=RESOLUTION)
    steps = search_until_done(search, service(650))
    assert [s.users for s in steps[:8]] == [10, 20, 40, 80, 160, 320, 640, 1280]
    rep = repeat_result(1, steps, SLO, stop_reason=search.reason)
    assert rep.knee_users <= 650 < rep.break_users <= rep.knee_users * 1.05  # type: ignore[operator]
    assert rep.resolution is not None and rep.resolution <= RESOLUTION
    assert len(steps) <= 13


def test_a_knee_above_the_maximum_is_a_lower_bound() -> None:
    """Holding at the search's maximum ends it as 'max-users' with a censored knee at the maximum."""
    search = GeometricSearch(Judge(SLO), start=10, max_users=500)
    steps = search_until_done(search, service(5_000))
    rep = repeat_result(1, steps, SLO, stop_reason=search.reason)
    assert search.reason == "max-users"
    assert (rep.censored, rep.knee_users, rep.break_users, rep.found) == (True, 500, None, False)


def test_a_knee_below_the_start_is_found_by_shrinking() -> None:
    """A failing first step makes the search divide the load until it holds, then bisect."""
    search = GeometricSearch(Judge(SLO), start=100, resolution=RESOLUTION)
    steps = search_until_done(search, service(7.5))
    rep = repeat_result(1, steps, SLO, stop_reason=search.reason)
    assert rep.found and rep.knee_users == 7 and rep.break_users == 8


def test_failing_at_the_minimum_is_below_range() -> None:
    """Failing even at ``min`` users ends as 'min-users', below range, never as a knee of 0 in an average."""
    search = GeometricSearch(Judge(SLO), start=10, min_users=5)
    steps = search_until_done(search, service(2))
    rep = repeat_result(1, steps, SLO, stop_reason=search.reason)
    assert search.reason == "min-users"
    assert rep.below_range and rep.break_users == 5


def test_a_saturated_generator_caps_the_search_and_is_not_the_knee() -> None:
    """Inconclusive steps (the generator saturated above 300 users) are tagged and left out of the fit; the
    search never measures that load again, bisects up to it and ends with a lower bound within 5 % of it."""
    search = GeometricSearch(Judge(SLO), start=10)
    steps = search_until_done(search, service(5_000, generator_limit=300))
    rep = repeat_result(1, steps, SLO, stop_reason=search.reason)
    assert search.reason == "generator"
    assert [s.users for s in steps[:6]] == [10, 20, 40, 80, 160, 320]
    assert all(s.users < 320 for s in steps[6:])
    bad = [r for r in rep.steps if r.verdict is StepVerdict.INCONCLUSIVE]
    assert bad and all(r.users > 300 and r.inconclusive_reason == "load generator at 97% CPU" for r in bad)
    assert rep.censored and rep.break_users is None
    assert 300 / 1.05 <= rep.knee_users <= 300
    assert len(steps) <= 12


def test_a_real_break_below_the_saturated_load_is_still_found() -> None:
    """Generator saturated above 900 users, the service's knee at 650: the knee is found, not a bound."""
    search = GeometricSearch(Judge(SLO), start=10)
    steps = search_until_done(search, service(650, generator_limit=900))
    rep = repeat_result(1, steps, SLO, stop_reason=search.reason)
    assert rep.found and rep.knee_users <= 650 < rep.break_users <= rep.knee_users * 1.05  # type: ignore[operator]


def _repeat(n: int, knee: int, *, censored: bool = False) -> RepeatResult:
    steps = [StepResult(knee, 20.0, 0.0, 1.0, 10)]
    if not censored:
        steps.append(StepResult(knee + 10, 500.0, 0.0, 1.0, 10))
    return repeat_result(n, steps, SLO, stop_reason="max-users" if censored else "resolved")


def test_lower_bounds_never_enter_the_interval() -> None:
    """Two found knees and one lower bound: the interval is over the two, the bound is reported beside."""
    cond = summarize_condition(
        "healthy",
        [_repeat(1, 400), _repeat(2, 420), _repeat(3, 500, censored=True)],
        SLO,
        target_users=10_000,
        fault={"kind": "none"},
    )
    knee = cond.knee
    assert knee is not None
    assert (knee.n, knee.repeats, knee.values, knee.lower_bounds, knee.users) == (2, 3, [400, 420], [500], 410.0)
    assert knee.ci_low is not None and knee.ci_high is not None and knee.ci_low < 410 < knee.ci_high
    assert knee.label().endswith("(2 of 3 repeats found it; 1 held >= 500, a lower bound)")
    assert not knee.censored


def test_only_lower_bounds_report_the_best_one_and_no_interval() -> None:
    """Repeats that never failed (one cut by the budget at 25) give '>= 500', no interval, unknown headroom."""
    cond = summarize_condition(
        "redis-down",
        [_repeat(1, 500, censored=True), _repeat(2, 25, censored=True)],
        SLO,
        target_users=10_000,
        fault={"kind": "redis-down"},
    )
    knee, room = cond.knee, cond.headroom
    assert knee is not None and room is not None
    assert (knee.users, knee.n, knee.ci_low, knee.ci_high, knee.censored) == (500.0, 0, None, None, True)
    assert knee.label() == ">= 500 users (a lower bound: no repeat found the knee; 2 held)"
    assert (room.meets, room.bound) == (None, "lower")
    above = summarize_condition(
        "x", [_repeat(1, 12_000, censored=True)], SLO, target_users=10_000, fault={"kind": "none"}
    )
    assert above.headroom is not None and above.headroom.meets is True


def _result(conditions: list[object]) -> CapacityResult:
    return CapacityResult(
        run_id="r",
        scenario="s",
        target="local",
        started=0.0,
        ended=1.0,
        status="completed",
        target_users=10_000,
        slo={},
        plan={"search": {"start": 10, "factor": 2.0, "max": 500, "resolution": 0.05, "min": 1}, "repeats": 1},
        conditions=conditions,
    )


def test_headroom_chart_does_not_paint_a_lower_bound_red() -> None:
    """A lower bound under the target is grey and says the search stopped, not '5% of target' in red."""
    cond = summarize_condition("healthy", [_repeat(1, 500, censored=True)], SLO, target_users=10_000, fault={})
    fig = headroom_vs_target(_result([cond]))
    ax = fig.axes[0]
    (bar,) = ax.patches
    assert bar.get_facecolor()[:3] == pytest.approx((0.498, 0.498, 0.498), abs=0.01)
    text = " ".join(t.get_text() for t in ax.texts)
    assert "not a ceiling" in text and "of target" not in text
    facts = dict(capacity_facts(_result([cond])))
    assert facts["healthy: headroom"].startswith("unknown: the search stopped at 500 users")


def test_a_lower_bound_overlaps_any_knee_above_it_in_compare() -> None:
    """'>= 300' after '400 [380-420]' is not a regression: the bound says nothing against 400."""
    before = summarize_condition("c", [_repeat(1, 380), _repeat(2, 420)], SLO, target_users=10_000, fault={})
    after = summarize_condition("c", [_repeat(1, 300, censored=True)], SLO, target_users=10_000, fault={})
    assert before.knee is not None and after.knee is not None
    assert knee_status(before.knee, after.knee, 0.1) == "unchanged"
    worse = summarize_condition("c", [_repeat(1, 200), _repeat(2, 210)], SLO, target_users=10_000, fault={})
    assert worse.knee is not None
    assert knee_status(after.knee, worse.knee, 0.1) == "regressed"


# -- through the orchestrator: budget, repeats, failover ---------------------------------------------


def _plan(**overrides: object) -> CapacityPlan:
    data: dict[str, object] = {
        "name": "t",
        "load": {"spawn_rate": 100, "warmup_s": 2},
        "search": {"start": 10, "factor": 2, "max": 20_000, "resolution": RESOLUTION},
        "hold_s": 10,
        "repeats": 2,
        "budget_s": 100_000,
        "conditions": [{"name": "healthy", "fault": "none"}],
    }
    data.update(overrides)
    return CapacityPlan.model_validate(data)


class Rig:
    """A fake target: ``knees`` per condition; a failover condition recovers in 2 + users/100 s."""

    def __init__(self, plan: CapacityPlan, knees: dict[str, float], overhead_s: float = 4.0) -> None:
        self.plan, self.knees, self.overhead_s = plan, knees, overhead_s
        self.now = 0.0
        self.measured: list[tuple[str, int]] = []

    def clock(self) -> float:
        return self.now

    @contextlib.contextmanager
    def engage(self, cond: ConditionPlan) -> Iterator[StepHooks]:
        yield StepHooks()

    def measure(self, cond: ConditionPlan, users: int, hooks: StepHooks, out: Path) -> StepResult:
        self.now += step_cost_s(self.plan, users, cond) + self.overhead_s
        self.measured.append((cond.name, users))
        if cond.disruption:  # p95 over the window breaks by design; recovery grows with load
            return StepResult(users, 2_500.0, 0.03, users / 5, users * 4, recovery_s=2.0 + users / 100)
        return service(self.knees[cond.name])(users)


def _run(tmp_path: Path, plan: CapacityPlan, rig: Rig) -> CapacityResult:
    info = RunInfo(run_id="r1", scenario="s.yaml", target="local", run_dir=tmp_path)
    return run_capacity(plan, info, engage=rig.engage, measure=rig.measure, clock=rig.clock)


def test_run_finds_the_knee_each_repeat_and_later_repeats_start_near_it(tmp_path: Path) -> None:
    """Both repeats pin 650 within 5 %; the second starts at half the first knee and needs fewer steps."""
    plan = _plan()
    rig = Rig(plan, {"healthy": 650})
    result = _run(tmp_path, plan, rig)
    reps = result.condition("healthy").repeats
    for rep in reps:
        assert rep.knee_users <= 650 < rep.break_users <= rep.knee_users * 1.05  # type: ignore[operator]
        assert rep.stop_reason == "resolved"
    assert reps[1].steps[0].users == reps[0].knee_users // 2
    assert len(reps[1].steps) < len(reps[0].steps)
    knee = result.condition("healthy").knee
    assert knee is not None and knee.n == 2 and not knee.censored


def test_search_respects_the_budget_and_shares_it_between_conditions(tmp_path: Path) -> None:
    """A budget for ~16 steps over two conditions: never overshot, and both conditions get a knee or bound."""
    plan = _plan(repeats=1, budget_s=400, conditions=[{"name": "a", "fault": "none"}, {"name": "b", "fault": "none"}])
    rig = Rig(plan, {"a": 5_000, "b": 300})
    result = _run(tmp_path, plan, rig)
    assert rig.now <= 400
    assert {name for name, _ in rig.measured} == {"a", "b"}
    a = result.condition("a").repeats[0]
    assert a.stop_reason == "budget" and a.censored  # cut while still growing: a lower bound
    assert result.status == "budget-exhausted"


def test_failover_condition_is_judged_on_time_to_recover(tmp_path: Path) -> None:
    """A failover in every window breaks the SLO at any load: reported as such, with the recovery per load,
    and its knee is where recovery exceeds the limit (2 + users/100 s = 15 s at 1,300 users)."""
    plan = _plan(
        repeats=1,
        conditions=[{"name": "db-failover", "fault": "db-failover", "recovery_limit_s": 15, "hold_s": 30}],
    )
    result = _run(tmp_path, plan, Rig(plan, {}))
    cond = result.condition("db-failover")
    rep = cond.repeats[0]
    assert cond.judged_on == "recovery" and cond.recovery_limit_s == 15
    assert rep.found and rep.knee_users <= 1_300 < rep.break_users  # type: ignore[operator]
    assert rep.steps[0].verdict is StepVerdict.OK  # p95 2.5 s, but recovered in 2.1 s
    line = condition_line(cond)
    assert line.startswith("breaks the SLO at any load by design (db-failover inside every window)")
    assert "10 users 2.1 s" in line and "recovers within 15 s up to" in line
    assert recovery_by_users(cond)[0] == (10, 2.1)
    assert plan.hold_for(plan.conditions[0]) == 30


def test_no_recovery_within_the_window_clearly_breaks() -> None:
    """A step that never recovered inside its window clearly breaks the recovery judge."""
    judge = Judge(SLO, recovery_limit_s=15)
    assert judge.clearly_breaks(StepResult(10, 2_500.0, 0.03, 2.0, 40, recovery_s=None))
    assert judge.verdict(StepResult(10, 2_500.0, 0.03, 2.0, 40, recovery_s=20.0)) is StepVerdict.FAILED


def test_recovery_is_measured_from_the_failover_until_the_slo_holds_for_3_s(tmp_path: Path) -> None:
    """Acks at 20 ms; those sent in the 4 s after a failover at T0 + 2 take 2.5 s and fail, then 20 ms again:
    recovered 4 s after the failover (+- one 1 s bucket); acks that stay slow to the end never recover."""
    t0 = 1_800_000_000.0
    good, bad = EventWriter(tmp_path / "good", name="events-1.bin"), EventWriter(tmp_path / "bad", name="events-1.bin")
    for i in range(200):  # 20 s at 10 acks/s
        t = t0 + i * 0.1
        slow = t0 + 2 <= t < t0 + 6  # sent then: recorded when answered, 2.5 s later
        good.record(Kind.ACK, value=2_500.0 if slow else 20.0, ok=not slow, t=t + (2.5 if slow else 0.02))
        bad.record(Kind.ACK, value=2_500.0 if t >= t0 + 2 else 20.0, t=t)
    good.close()
    bad.close()
    took = recovery_s(tmp_path / "good", SLO, fault_start=t0 + 2, end=t0 + 20)
    assert took is not None and 3.0 <= took <= 5.0
    assert recovery_s(tmp_path / "bad", SLO, fault_start=t0 + 2, end=t0 + 20) is None


def test_a_repeat_cut_by_its_budget_share_is_continued_by_the_next(tmp_path: Path) -> None:
    """Repeat 1 runs out of its share while growing (a lower bound); repeat 2 starts at that bound, goes on
    and finds the knee: the interval is over that one knee, the bound is listed beside it."""
    plan = _plan(repeats=2, budget_s=330)
    rig = Rig(plan, {"healthy": 1_500})
    result = _run(tmp_path, plan, rig)
    first, second = result.condition("healthy").repeats
    assert first.stop_reason == "budget" and first.censored
    assert second.steps[0].users == first.knee_users
    assert second.found and second.knee_users <= 1_500 < second.break_users  # type: ignore[operator]
    knee = result.condition("healthy").knee
    assert knee is not None and (knee.n, knee.lower_bounds) == (1, [first.knee_users])
    assert rig.now <= 330
