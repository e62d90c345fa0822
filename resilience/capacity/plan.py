"""Capacity plans (``scenarios/capacity*.yaml``): the step ladder, the conditions, the SLO and the budget.

Example::

    name: capacity
    target: local
    target_users: 10000
    load: {spawn_rate: 100, think_time_s: 5, warmup_s: 5}   # resilience.scenario.LoadSpec, users per step
    search: {start: 10, factor: 2, max: 20000, resolution: 0.05}   # grow x2 until the SLO clearly breaks,
                                                          # then bisect until break <= knee * 1.05
    # or a fixed ladder instead of search: steps: {from: 50, to: 1000, by: 50} or [50, 100, 200, 400]
    hold_s: 20                                            # measured window of each step, after warm-up
    latency: ack                                          # p95 of send->ack (or: all request kinds)
    repeats: 3
    budget_s: 1800                                        # the whole run, every condition and repeat
    slo: {p95_ms: 100, error_rate: 0.001, ws_connect_success: 0.99}
    conditions:
      - {name: healthy, fault: none}
      - {name: chat-replica-down, fault: chat-replica-down}
      - {name: db-latency-50ms, fault: db-latency, latency_ms: 50}
      - {name: db-failover, fault: db-failover, mode: primary-crash, hold_s: 30, recovery_limit_s: 15}
      - {name: redis-down, fault: redis-down}

A condition may override SLO keys (``slo: {error_rate: 0.01}``) and the hold (``hold_s``). A ``db-failover``
condition breaks the SLO at any load by design (the failover is inside every window): it is judged on its
time to recover (SLO holding again for 3 s) against ``recovery_limit_s`` instead. ``load_capacity_plan`` validates the
whole file and raises ``ConfigError("file:line: field: message")`` on the first problem.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from resilience.scenario import LoadSpec, Located, load_mapping, validation_error
from resilience.slo import Slo
from resilience.targets.base import FailoverMode

__all__ = ["CapacityPlan", "ConditionPlan", "FaultKind", "LoadedPlan", "SearchSpec", "load_capacity_plan"]

MAX_STEPS = 200


class FaultKind(enum.StrEnum):
    """What is wrong with the target while a condition's ladder runs."""

    NONE = "none"
    CHAT_REPLICA_DOWN = "chat-replica-down"
    """``replicas`` chat replicas frozen (SIGSTOP) for the whole ladder: down, and not restarted."""
    DB_LATENCY = "db-latency"
    """A Toxiproxy latency toxic of ``latency_ms`` on the ``postgres`` proxy for the whole ladder."""
    DB_FAILOVER = "db-failover"
    """A database failover (``mode``) ``failover_at_s`` into every step's measured window."""
    REDIS_DOWN = "redis-down"
    """The ``redis`` proxy disabled for the whole ladder."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConditionPlan(_Model):
    """One condition under which the knee is measured."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    fault: FaultKind
    description: str = ""
    slo: dict[str, Any] | None = None
    """SLO keys that differ under this condition (keys of resilience.scenario.Slo)."""
    latency_ms: int = Field(default=50, ge=1, le=60_000)
    jitter_ms: int = Field(default=0, ge=0, le=60_000)
    mode: FailoverMode = FailoverMode.PRIMARY_CRASH
    failover_at_s: float = Field(default=1.0, ge=0, le=600)
    replicas: int = Field(default=1, ge=1, le=64)
    hold_s: float | None = Field(default=None, gt=0, le=3600)
    """This condition's measured window, when it differs from the plan's."""
    recovery_limit_s: float = Field(default=15.0, gt=0, le=3600)
    """A disruption condition holds at a load when it recovers within this (see ``disruption``)."""

    @property
    def disruption(self) -> bool:
        """The condition breaks the SLO inside every window by design: judged on time to recover."""
        return self.fault is FaultKind.DB_FAILOVER

    @field_validator("slo")
    @classmethod
    def _slo_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value:
            Slo.model_validate(value)
        return value

    def fault_json(self) -> dict[str, Any]:
        """The fault as recorded in capacity.json (only the options that matter for its kind)."""
        options: dict[FaultKind, dict[str, Any]] = {
            FaultKind.NONE: {},
            FaultKind.CHAT_REPLICA_DOWN: {"replicas": self.replicas},
            FaultKind.DB_LATENCY: {"latency_ms": self.latency_ms, "jitter_ms": self.jitter_ms},
            FaultKind.DB_FAILOVER: {
                "mode": self.mode.value,
                "failover_at_s": self.failover_at_s,
                "recovery_limit_s": self.recovery_limit_s,
            },
            FaultKind.REDIS_DOWN: {},
        }
        return {"kind": self.fault.value, **options[self.fault]}


class Ladder(_Model):
    """``{from: 50, to: 1000, by: 50}``: an arithmetic ladder of users."""

    from_: int = Field(alias="from", ge=1)
    to: int = Field(ge=1)
    by: int = Field(ge=1)

    def users(self) -> list[int]:
        return list(range(self.from_, self.to + 1, self.by))


class SearchSpec(_Model):
    """``{start: 10, factor: 2, max: 20000, resolution: 0.05}``: how the knee is searched for."""

    start: int = Field(default=10, ge=1)
    factor: float = Field(default=2.0, gt=1, le=10)
    """Growth per step until the SLO clearly breaks (and shrink per step below a failing start)."""
    max: int = Field(default=20_000, ge=1)
    """Never more users than this; holding here gives a lower bound."""
    min: int = Field(default=1, ge=1)
    resolution: float = Field(default=0.05, gt=0, lt=1)
    """Bisect until the first failing users are within this share above the knee."""

    @model_validator(mode="after")
    def _range(self) -> SearchSpec:
        if not self.min <= self.start <= self.max:
            raise ValueError(f"need min <= start <= max, got {self.min}, {self.start}, {self.max}")
        return self


class CapacityPlan(_Model):
    """A capacity run: which conditions, which ladder, which SLO, how long at most."""

    name: str = Field(min_length=1)
    description: str = ""
    target: Literal["local", "kind", "staging"] = "local"
    target_users: int = Field(default=10_000, ge=1)
    """The users the service must serve; headroom is measured against it."""
    load: LoadSpec = Field(default_factory=LoadSpec)
    """Load per step (``users`` is replaced by the step's users; ``warmup_s`` is each step's warm-up)."""
    steps: list[int] | Ladder | None = None
    """A fixed ladder instead of the search (either ``steps`` or ``search``; neither: the default search)."""
    search: SearchSpec | None = None
    hold_s: float = Field(default=20.0, gt=0, le=3600)
    """Measured window of each step, after spawning and warm-up."""
    repeats: int = Field(default=3, ge=1, le=50)
    budget_s: float = Field(default=1800.0, gt=0, le=7 * 86400)
    """Time budget for the whole run; steps that would not fit are not started."""
    confidence: float = Field(default=0.95, gt=0, lt=1)
    clear_factor: float = Field(default=2.0, gt=1)
    """A step whose p95 exceeds clear_factor x the limit clearly breaks the SLO: the ladder stops."""
    patience: int = Field(default=2, ge=1, le=10)
    """The ladder also stops after this many failing steps in a row."""
    latency: Literal["ack", "all"] = "ack"
    """Which p95 the SLO judges: WebSocket send->ack (``ack``) or every request kind (``all``)."""
    slo: Slo = Field(default_factory=Slo)
    conditions: list[ConditionPlan] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _ladder(cls, value: list[int] | Ladder | None) -> list[int] | Ladder | None:
        if value is None:
            return value
        users = value.users() if isinstance(value, Ladder) else value
        if not users:
            raise ValueError("the ladder has no step")
        if len(users) > MAX_STEPS:
            raise ValueError(f"the ladder has {len(users)} steps (at most {MAX_STEPS})")
        if any(u < 1 for u in users) or sorted(set(users)) != users:
            raise ValueError("steps must be positive user counts in increasing order")
        return value

    @model_validator(mode="after")
    def _unique_conditions(self) -> CapacityPlan:
        if self.steps is not None and self.search is not None:
            raise ValueError("give either steps (a fixed ladder) or search, not both")
        names = [c.name for c in self.conditions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"condition name {dupes[0]!r} is used twice")
        return self

    def ladder(self) -> list[int] | None:
        """The users of every step of the fixed ladder, ascending (None: the plan searches)."""
        if self.steps is None:
            return None
        return self.steps.users() if isinstance(self.steps, Ladder) else list(self.steps)

    def searching(self) -> SearchSpec:
        """The search settings (the defaults when the plan has a fixed ladder instead)."""
        return self.search or SearchSpec()

    def users_range(self) -> tuple[int, int]:
        """The fewest and most users a step may have."""
        ladder = self.ladder()
        if ladder is not None:
            return ladder[0], ladder[-1]
        spec = self.searching()
        return spec.min, spec.max

    def hold_for(self, condition: ConditionPlan) -> float:
        """The measured window of each step under ``condition``."""
        return condition.hold_s if condition.hold_s is not None else self.hold_s

    def slo_for(self, condition: ConditionPlan) -> Slo:
        """The plan's SLO with the condition's overrides."""
        return self.slo.merged(condition.slo)

    def to_json(self) -> dict[str, Any]:
        """The ``plan`` object of capacity.json."""
        return {
            "steps": self.ladder(),
            "search": None if self.ladder() is not None else self.searching().model_dump(),
            "warmup_s": self.load.warmup_s,
            "hold_s": self.hold_s,
            "repeats": self.repeats,
            "budget_s": self.budget_s,
            "confidence": self.confidence,
            "clear_factor": self.clear_factor,
            "patience": self.patience,
            "latency": self.latency,
            "load": self.load.model_dump(exclude={"users"}),
        }


@dataclass(frozen=True)
class LoadedPlan:
    """A validated capacity plan and the file it came from."""

    path: Path
    plan: CapacityPlan


_UNION_BRANCHES = {"list[int]", "Ladder"}


def _error(located: Located, exc: ValidationError) -> Exception:
    # ``steps`` is a list or a ladder mapping: report the error of the branch the user wrote.
    wrong = "list[int]" if isinstance(located.data.get("steps"), dict) else "Ladder"
    errors = [e for e in exc.errors() if wrong not in e["loc"]] or exc.errors()
    return validation_error(located, errors, skip=_UNION_BRANCHES)


def load_capacity_plan(path: Path | str) -> LoadedPlan:
    """Parse and validate a capacity plan; ConfigError ``file:line: field: message`` on the first problem."""
    located = load_mapping(path, "a capacity plan")
    try:
        plan = CapacityPlan.model_validate(located.data)
    except ValidationError as exc:
        raise _error(located, exc) from None
    return LoadedPlan(located.path, plan)
