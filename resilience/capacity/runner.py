"""The capacity orchestrator: every condition, every repeat, step by step, within a time budget.

Order is repeat-major (repeat 1 of every condition, then repeat 2, ...) so that a budget cut still leaves
a knee for every condition. Each search (``resilience.capacity.search``: geometric growth, then bisection;
or the plan's fixed ladder) gets a fair share of what is left of the budget — the rest divided by the
searches still to run — and a step starts only if its estimated cost fits in that share. Later repeats
start one growth factor below the knees earlier repeats found. ``capacity.json`` is rewritten after every
search, so an interrupted run keeps what it measured.

How a step is measured and how a condition is applied are passed in (``Measure``, ``Engage``): the real
ones start load against a target (``resilience.capacity.measure``, ``resilience.capacity.conditions``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from resilience.analysis.capacity import StepResult
from resilience.capacity.conditions import StepHooks
from resilience.capacity.plan import CapacityPlan, ConditionPlan
from resilience.capacity.result import (
    CapacityResult,
    RepeatResult,
    Status,
    StopReason,
    repeat_result,
    summarize_condition,
    write_capacity,
)
from resilience.capacity.search import GeometricSearch, Judge, LadderSearch, Search, start_hint
from resilience.targets.base import Progress

__all__ = ["Engage", "Measure", "RunInfo", "judge_for", "new_search", "run_capacity", "step_cost_s"]

log = logging.getLogger(__name__)

Measure = Callable[[ConditionPlan, int, StepHooks, Path], StepResult]
"""Measure one step: (condition, users, the condition's hooks, the step's output folder) -> result."""
Engage = Callable[[ConditionPlan], AbstractContextManager[StepHooks]]
"""Apply a condition for the duration of a ladder, yielding its per-step hooks."""

_INITIAL_OVERHEAD_S = 8.0
"""Assumed per-step cost beyond spawn + warm-up + hold until a step has been timed."""


@dataclass(frozen=True)
class RunInfo:
    """Where the run writes and what it is called."""

    run_id: str
    scenario: str
    target: str
    run_dir: Path


@dataclass
class _Budget:
    budget_s: float
    clock: Callable[[], float]
    started: float = 0.0
    overheads: list[float] = field(default_factory=list)
    exhausted: bool = False

    @property
    def overhead_s(self) -> float:
        """Seconds a step takes beyond its nominal cost: the worst seen (the budget errs on the safe side)."""
        return max(self.overheads, default=_INITIAL_OVERHEAD_S)

    def left(self) -> float:
        return self.budget_s - (self.clock() - self.started)

    def fits(self, cost_s: float) -> bool:
        ok = cost_s <= self.left()
        self.exhausted |= not ok
        return ok

    def observe(self, nominal_s: float, actual_s: float) -> None:
        """Learn the real overhead of a step from its nominal and actual duration."""
        self.overheads.append(max(actual_s - nominal_s, 0.0))


def step_cost_s(plan: CapacityPlan, users: int, condition: ConditionPlan | None = None) -> float:
    """Nominal seconds of one step: spawning the users, warm-up and the measured hold."""
    hold = plan.hold_s if condition is None else plan.hold_for(condition)
    return users / plan.load.spawn_rate + plan.load.warmup_s + hold


def judge_for(plan: CapacityPlan, condition: ConditionPlan) -> Judge:
    """How steps under ``condition`` are judged: the SLO, or time to recover for a disruption."""
    return Judge(
        plan.slo_for(condition),
        clear_factor=plan.clear_factor,
        recovery_limit_s=condition.recovery_limit_s if condition.disruption else None,
    )


def new_search(plan: CapacityPlan, condition: ConditionPlan, earlier: Sequence[RepeatResult] = ()) -> Search:
    """The plan's fixed ladder, or a geometric search starting near what earlier repeats found (``start_hint``)."""
    judge = judge_for(plan, condition)
    ladder = plan.ladder()
    if ladder is not None:
        return LadderSearch(judge, ladder, patience=plan.patience)
    spec = plan.searching()
    knees = [r.knee_users for r in earlier if r.found]
    bounds = [r.knee_users for r in earlier if r.censored]
    start = start_hint(knees, bounds, start=spec.start, factor=spec.factor, min_users=spec.min)
    return GeometricSearch(
        judge,
        start=min(start, spec.max),
        factor=spec.factor,
        resolution=spec.resolution,
        min_users=spec.min,
        max_users=spec.max,
        patience=plan.patience,
    )


@dataclass
class _Ladder:
    steps: list[StepResult] = field(default_factory=list)
    reason: StopReason | None = None


def _fmt_step(step: StepResult) -> str:
    p95 = f"{step.p95_ms:.1f} ms" if step.p95_ms is not None else "n/a"
    conn = f", connects {step.connect_success:.1%}" if step.connect_success is not None else ""
    rec = "" if step.recovery_s is None else f", recovered in {step.recovery_s:.1f} s"
    tag = "" if step.conclusive else f" INCONCLUSIVE ({step.inconclusive_reason or 'generator'})"
    return f"p95 {p95}, errors {step.error_rate:.2%}{conn}, {step.throughput:.0f} req/s{rec}{tag}"


def _fmt_repeat(rep: RepeatResult) -> str:
    if rep.found:
        return f"knee {rep.knee_users} users (first failing {rep.break_users}, resolution {rep.resolution or 0:.1%})"
    if rep.censored:
        return f"knee >= {rep.knee_users} users (a lower bound: no conclusive step failed)"
    return f"knee < {rep.break_users} users (the fewest measured failed)"


@dataclass
class _Run:
    """One capacity run in progress: the plan, where it writes, how it measures, what is left."""

    plan: CapacityPlan
    info: RunInfo
    engage: Engage
    measure: Measure
    budget: _Budget
    progress: Progress | None
    started: float = field(default_factory=time.time)
    repeats: dict[str, list[RepeatResult]] = field(default_factory=dict)
    ladders_left: int = 0

    def say(self, prefix: str, line: str) -> None:
        log.info("%s %s %s", self.info.run_id, prefix, line)
        if self.progress is not None:
            self.progress(f"{prefix} {line}")

    def ladder(self, cond: ConditionPlan, hooks: StepHooks, out: Path, prefix: str) -> _Ladder:
        """Step under ``cond`` where the search says until it is done or this ladder's share of the budget is."""
        ladder = _Ladder()
        search = new_search(self.plan, cond, self.repeats.get(cond.name, []))
        share_end = self.budget.clock() + self.budget.left() / max(self.ladders_left, 1)
        while (users := search.next_users(ladder.steps)) is not None:
            cost = step_cost_s(self.plan, users, cond) + self.budget.overhead_s
            share_left = share_end - self.budget.clock()
            if not self.budget.fits(cost) or (ladder.steps and cost > share_left):
                self.budget.exhausted = True
                ladder.reason = "budget"
                self.say(prefix, f"{users} users: not started (~{cost:.0f} s > this search's share left)")
                return ladder
            t0 = self.budget.clock()
            step = self.measure(cond, users, hooks, out / f"step-{users:06d}")
            self.budget.observe(step_cost_s(self.plan, users, cond), self.budget.clock() - t0)
            ladder.steps.append(step)
            self.say(prefix, f"{users} users: {_fmt_step(step)} (budget left {self.budget.left() / 60:.1f} min)")
        ladder.reason = search.reason
        return ladder

    def one_ladder(self, cond: ConditionPlan, repeat: int) -> RepeatResult | None:
        """Engage ``cond``, run its search, revert; the analysed repeat (None when no step ran)."""
        prefix = f"[repeat {repeat}/{self.plan.repeats} {cond.name}]"
        first = new_search(self.plan, cond, self.repeats.get(cond.name, [])).next_users([]) or 1
        if not self.budget.fits(step_cost_s(self.plan, first, cond) + self.budget.overhead_s):
            self.say(prefix, "skipped: not enough budget left for one step")
            return None
        out = self.info.run_dir / "capacity" / cond.name / f"repeat-{repeat}"
        with self.engage(cond) as hooks:
            ladder = self.ladder(cond, hooks, out, prefix)
        if not ladder.steps:
            return None
        rep = repeat_result(repeat, ladder.steps, judge_for(self.plan, cond), stop_reason=ladder.reason)
        self.say(prefix, f"{_fmt_repeat(rep)}; stopped: {ladder.reason or 'ladder done'}")
        return rep

    def result(self, status: Status) -> CapacityResult:
        """capacity.json's content for what has been measured so far."""
        plan = self.plan
        conditions = [
            summarize_condition(
                c.name,
                self.repeats[c.name],
                plan.slo_for(c),
                target_users=plan.target_users,
                fault=c.fault_json(),
                description=c.description,
                confidence=plan.confidence,
                recovery_limit_s=c.recovery_limit_s if c.disruption else None,
            )
            for c in plan.conditions
        ]
        return CapacityResult(
            run_id=self.info.run_id,
            scenario=self.info.scenario,
            target=self.info.target,
            started=self.started,
            ended=time.time(),
            status=status,
            target_users=plan.target_users,
            slo=plan.slo.to_json(),
            plan=plan.to_json(),
            conditions=conditions,
        )

    def run(self) -> CapacityResult:
        self.repeats = {c.name: [] for c in self.plan.conditions}
        self.ladders_left = self.plan.repeats * len(self.plan.conditions)
        try:
            for r in range(1, self.plan.repeats + 1):
                for cond in self.plan.conditions:
                    rep = self.one_ladder(cond, r)
                    self.ladders_left -= 1
                    if rep is not None:
                        self.repeats[cond.name].append(rep)
                    write_capacity(self.result("completed"), self.info.run_dir)
        except KeyboardInterrupt:
            write_capacity(self.result("interrupted"), self.info.run_dir)
            raise
        except Exception:
            write_capacity(self.result("aborted"), self.info.run_dir)
            raise
        result = self.result("budget-exhausted" if self.budget.exhausted else "completed")
        write_capacity(result, self.info.run_dir)
        return result


def run_capacity(
    plan: CapacityPlan,
    info: RunInfo,
    *,
    engage: Engage,
    measure: Measure,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
    conditions: Sequence[str] | None = None,
) -> CapacityResult:
    """Run the plan (optionally only the named conditions); write and return ``capacity.json``'s content.

    An interrupt (KeyboardInterrupt) or an error writes what was measured, with status ``interrupted`` or
    ``aborted``, and propagates. The condition being run is reverted first (``engage`` exits).
    """
    if conditions:
        wanted = set(conditions)
        plan = plan.model_copy(update={"conditions": [c for c in plan.conditions if c.name in wanted]})
    budget = _Budget(plan.budget_s, clock, started=clock())
    return _Run(plan, info, engage, measure, budget, progress).run()
