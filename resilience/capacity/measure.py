"""Measure one step for real: start the load at N users, warm up, hold, and read the load's events.

Each step runs its own Locust (``resilience.controls.load.start_target_load``) so its window is known
exactly and nothing carries over from a broken step: spawn the users, warm up, then the measured *hold*
window (a condition's in-window hook, e.g. a failover, fires ``in_window_at_s`` into it). Latency and
errors come from the hold window only; WebSocket connect success from the whole step (users connect while
spawning). Figures are the whole-window summaries of ``resilience.analysis.timeline.build_timeline``
(HdrHistogram percentiles over every request in the window, not an average of per-bucket p95s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience.analysis.capacity import StepResult
from resilience.analysis.timeline import build_timeline
from resilience.capacity.conditions import StepHooks
from resilience.capacity.plan import CapacityPlan, ConditionPlan
from resilience.controls.load import start_target_load
from resilience.errors import LoadError
from resilience.targets.base import Target

__all__ = ["StepMeasurer", "step_result"]

log = logging.getLogger(__name__)

_SAFETY_S = 120.0
"""The load's own duration exceeds the step by this much: it ends itself if the harness dies."""
_TIMELINE_S = 1.0
"""Resolution of each step's timeline.csv (kept for looking at a step afterwards)."""
_WINDOW_RES_S = 0.1
"""Bucket size when summarising the hold window: events at most this long before it are counted."""


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def step_result(
    users: int,
    window: Mapping[str, Any],
    whole: Mapping[str, Any],
    *,
    started: float,
    ended: float,
    latency: str = "ack",
) -> StepResult:
    """A StepResult from timeline summaries: ``window`` (hold) and ``whole`` (spawn to end) of one step.

    ``latency`` ``ack`` takes the WebSocket send->ack percentiles (the chat's own operation), ``all`` those
    over every request kind; ``ack`` falls back to ``all`` when the window has no ack.
    """
    prefix = "ack_" if latency == "ack" and window.get("ack_count") else ""
    requests = int(window.get("requests") or 0)
    span = max(ended - started, 1e-9)
    return StepResult(
        users=users,
        p50_ms=_num(window.get(f"{prefix}p50_ms")),
        p95_ms=_num(window.get(f"{prefix}p95_ms")) if requests else None,
        p99_ms=_num(window.get(f"{prefix}p99_ms")),
        error_rate=float(window.get("error_rate") or 0.0),
        throughput=requests / span,
        requests=requests,
        connect_success=_num(whole.get("connect_success")),
        connects=int(whole.get("connects") or 0),
        started=started,
        ended=ended,
    )


def _wait(seconds: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not alive():
            raise LoadError("the load generator stopped unexpectedly (see locust-master.out in the step folder)")
        time.sleep(min(0.2, left))


@dataclass(frozen=True)
class StepMeasurer:
    """The real ``Measure`` of the runner: load against ``target`` as the plan says."""

    target: Target
    plan: CapacityPlan

    def __call__(self, cond: ConditionPlan, users: int, hooks: StepHooks, out: Path) -> StepResult:
        load_spec = self.plan.load
        ramp_s = users / load_spec.spawn_rate + load_spec.warmup_s
        params = {**load_spec.params(), "users": users, "duration_s": ramp_s + self.plan.hold_s + _SAFETY_S}
        step_start = time.time()
        load = start_target_load(self.target, params, out / "load", workers=load_spec.workers)
        try:
            _wait(ramp_s, load.alive)
            t0 = time.time()
            if hooks.in_window is not None:
                _wait(hooks.in_window_at_s, load.alive)
                hooks.in_window()
            _wait(t0 + self.plan.hold_s - time.time(), load.alive)
            t1 = time.time()
        finally:
            load.stop()
        if hooks.after_step is not None:
            hooks.after_step()
        events = load.events_dir
        window = build_timeline(events, resolution_s=_WINDOW_RES_S, start=t0, end=t1).summary
        whole = build_timeline(events, resolution_s=_TIMELINE_S, start=step_start, end=t1)
        whole.write_csv(out / "timeline.csv")
        return step_result(users, window, whole.summary, started=t0, ended=t1, latency=self.plan.latency)
