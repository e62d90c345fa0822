"""The service-level objectives: one model for the scenario files, the verdict, the live watchers,
capacity plans and the reports (defaults: the chat service's own targets).

An objective set to None is not judged (a capacity plan may judge errors and connects only; a run.json
written by an older harness may lack one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ErrorBudget", "ServerObjective", "Slo"]


class ServerObjective(BaseModel):
    """A server-side objective: a PromQL query whose value must compare with a bound, judged by the runner
    through resilience.probes.prometheus just before each fault and at the end of each experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    query: str = Field(min_length=1)
    """An instant PromQL query giving one series or a scalar (aggregate it: ``max(...)``)."""
    op: Literal["<", "<=", ">", ">=", "==", "!="] = "<="
    value: float
    empty: float | None = None
    """The value when the query has no series (None: no series fails the objective)."""

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the objective (NaN never does)."""
        if math.isnan(value):
            return False
        return {
            "<": value < self.value,
            "<=": value <= self.value,
            ">": value > self.value,
            ">=": value >= self.value,
            "==": value == self.value,
            "!=": value != self.value,
        }[self.op]


class Slo(BaseModel):
    """Service-level objectives, judged on windows of the load timeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p95_ms: float | None = Field(default=100.0, gt=0)
    """95th percentile API latency must stay at or below this (None: not judged)."""
    p99_ms: float | None = Field(default=None, gt=0)
    """99th percentile API latency bound (None: not judged)."""
    error_rate: float | None = Field(default=0.001, ge=0, le=1)
    """Share of failed requests allowed (None: not judged)."""
    ws_connect_success: float | None = Field(default=0.99, ge=0, le=1)
    """Share of WebSocket connection attempts that must succeed (None: not judged)."""
    throughput_min: float | None = Field(default=0.0, ge=0)
    """Requests per second that must at least complete (0 or None: not judged)."""
    window_s: float = Field(default=1.0, gt=0, le=60)
    """Granularity of the verdict: the SLO is judged on windows this long."""
    promql: tuple[ServerObjective, ...] = ()
    """Server-side objectives (PromQL), judged before the fault and at the end of each experiment."""

    def merged(self, override: Mapping[str, Any] | None) -> Slo:
        """This SLO with the keys of ``override`` replaced."""
        if not override:
            return self
        return Slo.model_validate({**self.model_dump(), **override})

    def to_json(self) -> dict[str, Any]:
        """The ``slo`` object of run.json and capacity.json (every objective, no window; ``promql`` only
        when the scenario names server-side objectives)."""
        return self.model_dump(exclude={"window_s", "promql"} if not self.promql else {"window_s"})


class ErrorBudget(BaseModel):
    """The error budget: the failures an availability objective allows over its period.

    The budget of a period is ``(1 - availability) x the requests of the period``; the harness counts the
    period's requests at the load's own typical rate, so a share of the budget is the same as a share of
    the period's allowed full-outage time (99.9 % over 30 days: 43 min 12 s). ``resilience.analysis.budget``
    computes what one experiment used.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    availability: float = Field(default=0.999, gt=0, lt=1)
    """The availability objective: share of requests that succeed over the period."""
    period_days: float = Field(default=30.0, gt=0, le=366)
    """The period the objective is stated over."""
    limit: float | None = Field(default=None, gt=0, le=1)
    """Largest share of the period's budget one experiment may use; above it the experiment fails (None:
    not judged, only reported)."""

    @property
    def period_s(self) -> float:
        """The period in seconds."""
        return self.period_days * 86400.0

    def to_json(self) -> dict[str, Any]:
        """The objective as run.json states it."""
        return self.model_dump()
