"""The result of a capacity run and its file, ``results/<run-id>/capacity.json``.

Shape (``format: "resilience.capacity/1"``; extra keys may be added, these keep their meaning)::

    {"format": "resilience.capacity/1", "run_id": "...", "scenario": "scenarios/capacity.yaml",
     "target": "local", "started": <epoch s>, "ended": <epoch s>,
     "status": "completed" | "budget-exhausted" | "interrupted" | "aborted",
     "target_users": 10000,
     "slo": {"p95_ms": 100.0, "error_rate": 0.001, "ws_connect_success": 0.99},
     "plan": {"steps": [50, 100, ...], "warmup_s": 5, "hold_s": 20, "repeats": 3, "budget_s": 1800, ...},
     "conditions": [
       {"name": "healthy", "description": "...", "fault": {"kind": "none"}, "slo": {...},
        "knee": {"users": 412.5, "ci_low": 380.1, "ci_high": 444.9, "n": 3, "confidence": 0.95,
                 "method": "student-t", "values": [400, 400, 450], "censored": false, "below_range": false},
        "headroom": {"target_users": 10000, "users": -9587.5, "ratio": 0.041, "meets": false},
        "repeats": [{"repeat": 1, "knee_users": 400, "break_users": 450, "censored": false,
                     "below_range": false, "stop_reason": "clear-break",
                     "steps": [{"users": 50, "p50_ms": ..., "p95_ms": ..., "p99_ms": ..., "error_rate": ...,
                                "throughput": ..., "requests": N, "connect_success": ..., "connects": N,
                                "started": ..., "ended": ..., "ratio": 0.42, "verdict": "ok"}, ...]}]}]}

``knee.users`` is the mean knee over repeats; ``ci_low``/``ci_high`` are null with one repeat; ``knee`` and
``headroom`` are null for a condition with no finished repeat. ``ratio`` is the step's SLO ratio (null when
the step measured nothing).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from resilience.analysis.capacity import (
    DEFAULT_CLEAR_FACTOR,
    StepResult,
    StepVerdict,
    find_knee,
    headroom,
    knee_interval,
    slo_ratio,
    step_verdict,
)
from resilience.errors import ConfigError
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
    "read_capacity",
    "repeat_result",
    "slo_json",
    "summarize_condition",
    "write_capacity",
]

FORMAT = "resilience.capacity/1"
CAPACITY_FILE = "capacity.json"

Status = Literal["completed", "budget-exhausted", "interrupted", "aborted"]
StopReason = Literal["clear-break", "patience", "budget", "interrupted", "error"]
"""Why a repeat ended before its last step (None: every step ran)."""


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
    ratio: float | None
    verdict: StepVerdict

    @classmethod
    def of(cls, step: StepResult, slo: Slo, *, clear_factor: float = DEFAULT_CLEAR_FACTOR) -> StepRecord:
        """Record ``step`` with its ratio and verdict against ``slo``."""
        ratio = slo_ratio(step, slo)
        return cls(
            **{name: getattr(step, name) for name in StepResult.__dataclass_fields__},
            ratio=ratio if math.isfinite(ratio) else None,
            verdict=step_verdict(step, slo, clear_factor=clear_factor),
        )

    def to_step(self) -> StepResult:
        """The measurement alone, for re-analysis."""
        return StepResult(**{name: getattr(self, name) for name in StepResult.__dataclass_fields__})


class RepeatResult(_Model):
    """One pass of the step ladder under one condition."""

    repeat: int
    knee_users: int
    break_users: int | None
    censored: bool
    below_range: bool
    stop_reason: StopReason | None
    steps: list[StepRecord]


class KneeSummary(_Model):
    """The knee over repeats (mean and Student-t interval)."""

    users: float
    ci_low: float | None
    ci_high: float | None
    n: int
    confidence: float
    method: str
    values: list[int]
    censored: bool
    """At least one repeat never failed: the knee is a lower bound."""
    below_range: bool
    """Every repeat failed at its lowest step."""


class HeadroomSummary(_Model):
    """The knee against the target users."""

    target_users: int
    users: float
    ratio: float
    meets: bool


class ConditionResult(_Model):
    """Everything measured under one condition (healthy, replica down, ...)."""

    name: str
    description: str = ""
    fault: dict[str, Any]
    slo: dict[str, float | None]
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
    slo: Slo,
    *,
    stop_reason: StopReason | None,
    clear_factor: float = DEFAULT_CLEAR_FACTOR,
) -> RepeatResult:
    """Analyse one finished pass of the ladder (``steps`` must not be empty)."""
    knee = find_knee(steps, slo)
    return RepeatResult(
        repeat=repeat,
        knee_users=knee.users,
        break_users=knee.break_users,
        censored=knee.censored,
        below_range=knee.below_range,
        stop_reason=stop_reason,
        steps=[StepRecord.of(s, slo, clear_factor=clear_factor) for s in steps],
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
) -> ConditionResult:
    """Combine the repeats of one condition into its knee, interval and headroom."""
    knee: KneeSummary | None = None
    room: HeadroomSummary | None = None
    if repeats:
        values = [r.knee_users for r in repeats]
        interval = knee_interval(values, confidence=confidence)
        knee = KneeSummary(
            users=interval.mean,
            ci_low=interval.low,
            ci_high=interval.high,
            n=interval.n,
            confidence=interval.confidence,
            method=interval.method,
            values=values,
            censored=any(r.censored for r in repeats),
            below_range=all(r.below_range for r in repeats),
        )
        h = headroom(interval, target_users)
        room = HeadroomSummary(target_users=h.target_users, users=h.users, ratio=h.ratio, meets=h.meets)
    return ConditionResult(
        name=name,
        description=description,
        fault=dict(fault),
        slo=slo_json(slo),
        knee=knee,
        headroom=room,
        repeats=list(repeats),
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
    path = run_dir / CAPACITY_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


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
