"""The result of a capacity run and its file, ``results/<run-id>/capacity.json``.

Shape (``format: "resilience.capacity/1"``; extra keys may be added, these keep their meaning)::

    {"format": "resilience.capacity/1", "run_id": "...", "scenario": "scenarios/capacity.yaml",
     "target": "local", "started": <epoch s>, "ended": <epoch s>,
     "status": "completed" | "budget-exhausted" | "interrupted" | "aborted",
     "target_users": 10000,
     "slo": {"p95_ms": 100.0, "error_rate": 0.001, "ws_connect_success": 0.99},
     "plan": {"steps": null, "search": {"start": 10, "factor": 2, "max": 20000, "min": 1, "resolution": 0.05},
              "warmup_s": 5, "hold_s": 20, "repeats": 3, "budget_s": 1800, ...},
     "conditions": [
       {"name": "healthy", "description": "...", "fault": {"kind": "none"}, "slo": {...},
        "judged_on": "slo", "recovery_limit_s": null,
        "knee": {"users": 410.0, "ci_low": 283.0, "ci_high": 537.0, "n": 2, "repeats": 3, "confidence": 0.95,
                 "method": "student-t", "values": [400, 420], "lower_bounds": [500], "upper_bound": null,
                 "censored": false, "below_range": false},
        "headroom": {"target_users": 10000, "users": -9590.0, "ratio": 0.041, "meets": false, "bound": null},
        "repeats": [{"repeat": 1, "knee_users": 400, "break_users": 419, "censored": false,
                     "below_range": false, "stop_reason": "resolved", "resolution": 0.0475,
                     "steps": [{"users": 10, "p50_ms": ..., "p95_ms": ..., "p99_ms": ..., "error_rate": ...,
                                "throughput": ..., "requests": N, "connect_success": ..., "connects": N,
                                "started": ..., "ended": ..., "conclusive": true, "inconclusive_reason": null,
                                "recovery_s": null, "ratio": 0.42, "verdict": "ok"}, ...]}]}]}

A lower bound is censored data: ``knee.users`` is the mean over the repeats that *found* a knee (``n`` of
``repeats``) with its Student-t interval (null with one); repeats that never failed are listed in
``lower_bounds``, never averaged in. With no repeat finding one, ``users`` is the best lower bound
(``censored``; ``headroom.meets`` null when it is under the target: unknown) or 0 (``below_range``,
``upper_bound`` the fewest users measured). A condition ``judged_on: recovery`` (a failover inside every
window breaks the SLO at any load by design) is judged per step on ``recovery_s`` against
``recovery_limit_s``. ``verdict`` is ok / failed / broken / inconclusive (the load generator was saturated:
left out of the knee). ``knee`` and ``headroom`` are null for a condition with no finished repeat.
``ratio`` is the step's ratio (null when the step measured nothing).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from resilience.analysis.capacity import StepResult, StepVerdict, knee_interval
from resilience.capacity.search import Judge, SearchStop
from resilience.errors import ConfigError
from resilience.files import write_atomic
from resilience.slo import Slo

__all__ = [
    "CAPACITY_FILE",
    "FORMAT",
    "CapacityResult",
    "ConditionResult",
    "HeadroomSummary",
    "KneeSummary",
    "RepeatResult",
    "StepRecord",
    "capacity_schema",
    "condition_line",
    "read_capacity",
    "recovery_by_users",
    "repeat_result",
    "slo_json",
    "summarize_condition",
    "write_capacity",
]

FORMAT = "resilience.capacity/1"
CAPACITY_FILE = "capacity.json"

Status = Literal["completed", "budget-exhausted", "interrupted", "aborted"]
StopReason = SearchStop | Literal["budget", "interrupted", "error"]
"""Why a repeat ended (None: every step of a fixed ladder ran)."""
JudgedOn = Literal["slo", "recovery"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class StepRecord(_Model):
    """One measured step with its SLO ratio and verdict."""

    users: int
    p50_ms: float | None = None
    p95_ms: float | None
    p99_ms: float | None = None
    error_rate: float
    throughput: float
    requests: int
    connect_success: float | None = None
    connects: int = 0
    started: float | None = None
    ended: float | None = None
    conclusive: bool = True
    """False: the step cannot speak for the service (reason in ``inconclusive_reason``)."""
    inconclusive_reason: str | None = None
    generator: dict[str, Any] | None = None
    """The load generator's health over the hold window: processes, cpu_max, fds_max, lag_max_ms, saturated."""
    recovery_s: float | None = None
    """Seconds from the disruption inside the window until the SLO held again (disruption conditions)."""
    ratio: float | None
    verdict: StepVerdict

    @classmethod
    def of(cls, step: StepResult, judge: Judge) -> StepRecord:
        """Record ``step`` with its ratio and verdict as ``judge`` sees it."""
        ratio = judge.ratio(step)
        return cls(
            **{name: getattr(step, name) for name in StepResult.__dataclass_fields__},
            ratio=ratio if math.isfinite(ratio) else None,
            verdict=judge.verdict(step),
        )

    def to_step(self) -> StepResult:
        """The measurement alone, for re-analysis."""
        return StepResult(**{name: getattr(self, name) for name in StepResult.__dataclass_fields__})


class RepeatResult(_Model):
    """One search (or pass of the ladder) under one condition."""

    repeat: int
    knee_users: int
    """Most users at which the (fitted) SLO held; with ``censored`` a lower bound only."""
    break_users: int | None
    """Fewest users at which it failed; None when no conclusive step failed."""
    censored: bool
    """No conclusive step failed (top reached, budget, generator): ``knee_users`` is a lower bound."""
    below_range: bool
    """Even the fewest users measured failed: capacity < ``break_users``."""
    stop_reason: StopReason | None
    resolution: float | None = None
    """(break - knee) / knee: how closely this repeat pinned the knee (None when it did not find one)."""
    steps: list[StepRecord]

    @property
    def found(self) -> bool:
        """The repeat found a knee (a failing step above a holding one)."""
        return not self.censored and not self.below_range


class KneeSummary(_Model):
    """The knee over the repeats that found one (mean, Student-t interval); the others as bounds.

    A lower bound is censored data: it never enters the interval. ``users`` is the mean of the found knees;
    when no repeat found one it is the best lower bound (``censored``) or 0 (``below_range``).
    """

    users: float
    ci_low: float | None
    ci_high: float | None
    n: int
    """Repeats the mean and interval are over (those that found a knee)."""
    confidence: float
    method: str
    values: list[int]
    """The found knees."""
    censored: bool
    """No repeat found a knee and at least one held at every step: ``users`` is a lower bound."""
    below_range: bool
    """Every repeat failed at its lowest step."""
    repeats: int = 0
    """Repeats with a result (found, lower bound or below range)."""
    lower_bounds: list[int] = []
    """Users held by the repeats that never failed (each a lower bound on that repeat's knee)."""
    upper_bound: int | None = None
    """With ``below_range``: capacity is below this many users (the fewest measured)."""

    def label(self) -> str:
        """'412 users [380-445] (2 of 3 repeats found it; 1 held >= 500)', '>= 500 users (...)', '< 10 users'."""
        if self.n == 0:
            if self.censored:
                held = len(self.lower_bounds)
                return f">= {self.users:,.0f} users (a lower bound: no repeat found the knee; {held} held)"
            return f"< {self.upper_bound:,} users (the fewest measured failed)" if self.upper_bound else "below range"
        text = f"{self.users:,.0f} users"
        if self.ci_low is not None and self.ci_high is not None and self.ci_high > self.ci_low:
            text += f" [{self.ci_low:,.0f}-{self.ci_high:,.0f}]"
        found = f"{self.n} of {self.repeats} repeats found it"
        if self.lower_bounds:
            found += f"; {len(self.lower_bounds)} held >= {max(self.lower_bounds):,}, a lower bound"
        return f"{text} ({found})"


class HeadroomSummary(_Model):
    """The knee against the target users."""

    target_users: int
    users: float
    ratio: float
    meets: bool | None
    """None: unknown — the search stopped below the target without the SLO breaking (a lower bound)."""
    bound: Literal["lower"] | None = None
    """``lower``: ``users``/``ratio`` are from a lower bound, not a knee."""


class ConditionResult(_Model):
    """Everything measured under one condition (healthy, replica down, ...)."""

    name: str
    description: str = ""
    fault: dict[str, Any]
    slo: dict[str, float | None]
    judged_on: JudgedOn = "slo"
    """``recovery``: the condition breaks the SLO at any load by design (a failover inside every window);
    a step holds when it recovered within ``recovery_limit_s`` (its ``recovery_s``)."""
    recovery_limit_s: float | None = None
    knee: KneeSummary | None
    headroom: HeadroomSummary | None
    repeats: list[RepeatResult]


class CapacityResult(_Model):
    """The whole capacity run: ``capacity.json``."""

    format: str = FORMAT
    run_id: str
    scenario: str
    target: str
    started: float
    ended: float
    status: Status
    target_users: int
    slo: dict[str, float | None]
    plan: dict[str, Any]
    conditions: list[ConditionResult]

    def condition(self, name: str) -> ConditionResult:
        """The condition called ``name`` (KeyError when absent)."""
        for cond in self.conditions:
            if cond.name == name:
                return cond
        raise KeyError(name)


def repeat_result(
    repeat: int,
    steps: Sequence[StepResult],
    judge: Judge | Slo,
    *,
    stop_reason: StopReason | None,
) -> RepeatResult:
    """Analyse one finished search (``steps`` not empty) as ``judge`` (or a plain SLO) sees the steps;
    inconclusive steps are left out of the knee."""
    if not steps:
        raise ValueError("repeat_result needs at least one step")
    if not isinstance(judge, Judge):
        judge = Judge(judge)
    knee = judge.knee(steps)
    records = [StepRecord.of(s, judge) for s in steps]
    if knee is None:  # nothing conclusive: nothing is known about the service
        return RepeatResult(
            repeat=repeat,
            knee_users=0,
            break_users=None,
            censored=True,
            below_range=False,
            stop_reason=stop_reason,
            steps=records,
        )
    found = not knee.censored and not knee.below_range and knee.break_users is not None
    return RepeatResult(
        repeat=repeat,
        knee_users=knee.users,
        break_users=knee.break_users,
        censored=knee.censored,
        below_range=knee.below_range,
        stop_reason=stop_reason,
        resolution=(knee.break_users - knee.users) / knee.users if found and knee.break_users else None,
        steps=records,
    )


def _knee_summary(repeats: Sequence[RepeatResult], confidence: float) -> KneeSummary:
    found = [r.knee_users for r in repeats if r.found]
    lower = [r.knee_users for r in repeats if r.censored]
    below = [r.break_users for r in repeats if r.below_range and r.break_users is not None]
    if found:
        interval = knee_interval(found, confidence=confidence)
        return KneeSummary(
            users=interval.mean,
            ci_low=interval.low,
            ci_high=interval.high,
            n=interval.n,
            confidence=confidence,
            method=interval.method,
            values=found,
            censored=False,
            below_range=False,
            repeats=len(repeats),
            lower_bounds=lower,
        )
    return KneeSummary(
        users=float(max(lower)) if lower else 0.0,
        ci_low=None,
        ci_high=None,
        n=0,
        confidence=confidence,
        method="bounds",
        values=[],
        censored=bool(lower),
        below_range=not lower,
        repeats=len(repeats),
        lower_bounds=lower,
        upper_bound=min(below, default=None),
    )


def _headroom(knee: KneeSummary, target_users: int) -> HeadroomSummary:
    if knee.n:
        floor = knee.ci_low if knee.ci_low is not None else knee.users
        meets: bool | None = floor >= target_users
    else:  # a lower bound under the target says nothing about meeting it; one over it does
        meets = True if knee.censored and knee.users >= target_users else (None if knee.censored else False)
    return HeadroomSummary(
        target_users=target_users,
        users=knee.users - target_users,
        ratio=knee.users / target_users,
        meets=meets,
        bound="lower" if knee.censored else None,
    )


def summarize_condition(
    name: str,
    repeats: Sequence[RepeatResult],
    slo: Slo,
    *,
    target_users: int,
    fault: Mapping[str, Any],
    description: str = "",
    confidence: float = 0.95,
    recovery_limit_s: float | None = None,
) -> ConditionResult:
    """Combine the repeats of one condition: the interval over the found knees, the rest as bounds."""
    knee = _knee_summary(repeats, confidence) if repeats else None
    if target_users <= 0:
        raise ValueError(f"target_users must be positive, got {target_users}")
    return ConditionResult(
        name=name,
        description=description,
        fault=dict(fault),
        slo=slo_json(slo),
        judged_on="slo" if recovery_limit_s is None else "recovery",
        recovery_limit_s=recovery_limit_s,
        knee=knee,
        headroom=None if knee is None else _headroom(knee, target_users),
        repeats=list(repeats),
    )


def recovery_by_users(cond: ConditionResult) -> list[tuple[int, float | None]]:
    """A disruption condition's time to recover at each load: the median over repeats (None: not within
    the window in most of them), conclusive steps only, ascending users."""
    by_users: dict[int, list[float]] = {}
    for rep in cond.repeats:
        for step in rep.steps:
            if step.conclusive:
                by_users.setdefault(step.users, []).append(math.inf if step.recovery_s is None else step.recovery_s)
    out: list[tuple[int, float | None]] = []
    for users in sorted(by_users):
        median = statistics.median(by_users[users])
        out.append((users, median if math.isfinite(median) else None))
    return out


def condition_line(cond: ConditionResult) -> str:
    """One line for a condition: its knee, or for a disruption its time to recover at each load."""
    knee = cond.knee
    if knee is None:
        return "not measured"
    if cond.judged_on == "slo":
        return f"knee {knee.label()}"
    times = ", ".join(
        f"{u:,} users {'not within the window' if r is None else f'{r:.1f} s'}" for u, r in recovery_by_users(cond)
    )
    return (
        f"breaks the SLO at any load by design ({cond.fault.get('kind', 'a disruption')} inside every window); "
        f"time to recover: {times}; recovers within {cond.recovery_limit_s:g} s up to {knee.label()}"
    )


def slo_json(slo: Slo) -> dict[str, float | None]:
    """The SLO fields capacity checks, as JSON."""
    return {
        "p95_ms": slo.p95_ms,
        "p99_ms": slo.p99_ms,
        "error_rate": slo.error_rate,
        "ws_connect_success": slo.ws_connect_success,
    }


def write_capacity(result: CapacityResult, run_dir: Path) -> Path:
    """Write ``run_dir/capacity.json`` atomically; return its path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    return write_atomic(run_dir / CAPACITY_FILE, json.dumps(result.model_dump(mode="json"), indent=2) + "\n")


def read_capacity(path: Path) -> CapacityResult:
    """Read a ``capacity.json`` (or the one in a run folder); ConfigError with one line if malformed."""
    if path.is_dir():
        path = path / CAPACITY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from exc
    try:
        return CapacityResult.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: field {where}: {err['msg']}") from exc


def capacity_schema() -> dict[str, Any]:
    """The JSON Schema of capacity.json (``docs/capacity.schema.json``)."""
    schema: dict[str, Any] = CapacityResult.model_json_schema(mode="serialization")
    return schema


if __name__ == "__main__":
    print(json.dumps(capacity_schema(), indent=2))
