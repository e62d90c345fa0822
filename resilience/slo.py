"""The service-level objectives: one model for the scenario files, the verdict, the live watchers,
capacity plans and the reports (defaults: the chat service's own targets).

An objective set to None is not judged (a capacity plan may judge errors and connects only; a run.json
written by an older harness may lack one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Slo"]


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

    def merged(self, override: Mapping[str, Any] | None) -> Slo:
        """This SLO with the keys of ``override`` replaced."""
        if not override:
            return self
        return Slo.model_validate({**self.model_dump(), **override})

    def to_json(self) -> dict[str, Any]:
        """The ``slo`` object of run.json and capacity.json (every objective, no window)."""
        return self.model_dump(exclude={"window_s"})
