"""The capacity orchestrator: every condition, every repeat, step by step, within a time budget.

Order is repeat-major (repeat 1 of every condition, then repeat 2, ...) so that a budget cut still leaves
a knee for every condition. Within a ladder a step starts only if its estimated cost fits in what is
left of the budget; the ladder stops early once a step clearly breaks the SLO (``should_stop``).
``capacity.json`` is rewritten after every ladder, so an interrupted run keeps what it measured.

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

from resilience.analysis.capacity import StepResult, clearly_breaks, should_stop
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
from resilience.targets.base import Progress

__all__ = ["Engage", "Measure", "RunInfo", "run_capacity", "step_cost_s"]

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


def step_cost_s(plan: CapacityPlan, users: int) -> float:
    """Nominal seconds of one step: spawning the users, warm-up and the measured hold."""
    return users / plan.load.spawn_rate + plan.load.warmup_s + plan.hold_s


@dataclass
class _Ladder:
    steps: list[StepResult] = field(default_factory=list)
    reason: StopReason | None = None


def _fmt_step(step: StepResult) -> str:
    p95 = f"{step.p95_ms:.1f} ms" if step.p95_ms is not None else "n/a"
    conn = f", connects {step.connect_success:.1%}" if step.connect_success is not None else ""
    return f"p95 {p95}, errors {step.error_rate:.2%}{conn}, {step.throughput:.0f} req/s"


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

    def say(self, prefix: str, line: str) -> None:
        log.info("%s %s %s", self.info.run_id, prefix, line)
        if self.progress is not None:
            self.progress(f"{prefix} {line}")

    def ladder(self, cond: ConditionPlan, hooks: StepHooks, out: Path, prefix: str) -> _Ladder:
        """Step up under ``cond`` until the ladder ends, the SLO clearly breaks or the budget runs out."""
        ladder = _Ladder()
        slo = self.plan.slo_for(cond)
        for users in self.plan.ladder():
            cost = step_cost_s(self.plan, users) + self.budget.overhead_s
            if not self.budget.fits(cost):
                ladder.reason = "budget"
                self.say(prefix, f"{users} users: not started ({self.budget.left():.0f} s left < ~{cost:.0f} s)")
                break
            t0 = self.budget.clock()
            step = self.measure(cond, users, hooks, out / f"step-{users:06d}")
            self.budget.observe(step_cost_s(self.plan, users), self.budget.clock() - t0)
            ladder.steps.append(step)
            self.say(prefix, f"{users} users: {_fmt_step(step)} (budget left {self.budget.left() / 60:.1f} min)")
            if should_stop(ladder.steps, slo, clear_factor=self.plan.clear_factor, patience=self.plan.patience):
                broke = clearly_breaks(step, slo, clear_factor=self.plan.clear_factor)
                ladder.reason = "clear-break" if broke else "patience"
                break
        return ladder

    def one_ladder(self, cond: ConditionPlan, repeat: int) -> RepeatResult | None:
        """Engage ``cond``, run its ladder, revert; the analysed repeat (None when no step ran)."""
        prefix = f"[repeat {repeat}/{self.plan.repeats} {cond.name}]"
        if not self.budget.fits(step_cost_s(self.plan, self.plan.ladder()[0]) + self.budget.overhead_s):
            self.say(prefix, "skipped: not enough budget left for one step")
            return None
        out = self.info.run_dir / "capacity" / cond.name / f"repeat-{repeat}"
        with self.engage(cond) as hooks:
            ladder = self.ladder(cond, hooks, out, prefix)
        if not ladder.steps:
            return None
        slo = self.plan.slo_for(cond)
        rep = repeat_result(repeat, ladder.steps, slo, stop_reason=ladder.reason, clear_factor=self.plan.clear_factor)
        tail = "a lower bound: no step failed" if rep.censored else f"first failing step {rep.break_users}"
        self.say(prefix, f"knee {rep.knee_users} users ({tail}; stopped: {ladder.reason or 'ladder done'})")
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
        try:
            for r in range(1, self.plan.repeats + 1):
                for cond in self.plan.conditions:
                    rep = self.one_ladder(cond, r)
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
