"""Measure one step for real: start the load at N users, warm up, hold, and read the load's events.

Each step runs its own Locust (``resilience.controls.load.start_target_load``) so its window is known
exactly and nothing carries over from a broken step: spawn the users, warm up, then the measured *hold*
window (a condition's in-window hook, e.g. a failover, fires ``in_window_at_s`` into it). Latency and
errors come from the hold window only; WebSocket connect success from the whole step (users connect while
spawning). Figures are the whole-window summaries of ``resilience.analysis.timeline.build_timeline``
(HdrHistogram percentiles over every request in the window, not an average of per-bucket p95s).

A step with an in-window disruption (a failover) also gets its time to recover: from the disruption until
the SLO held again for ``_STABLE_S`` in 1 s buckets of the requests issued then
(``resilience.analysis.recovery.analyse_recovery``); None when it did not within the window.

Generator health: every Locust process samples its CPU, open files and event-loop lag each second
(``resilience.load.health``); ``resilience.analysis.generator.judge_generator`` over the hold window makes
the step inconclusive when the generator was saturated — it measured the generator, not the service.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resilience.analysis.capacity import StepResult
from resilience.analysis.generator import judge_generator, read_generator
from resilience.analysis.recovery import analyse_recovery
from resilience.analysis.samples import samples_from_rows
from resilience.analysis.timeline import build_timeline
from resilience.capacity.conditions import StepHooks
from resilience.capacity.plan import CapacityPlan, ConditionPlan
from resilience.controls.load import start_target_load
from resilience.errors import LoadError
from resilience.runner.signals import SignalGate
from resilience.slo import Slo
from resilience.targets.base import Target

__all__ = ["StepMeasurer", "recovery_s", "step_result"]

log = logging.getLogger(__name__)

_SAFETY_S = 120.0
"""The load's own duration exceeds the step by this much: it ends itself if the harness dies."""
_TIMELINE_S = 1.0
"""Resolution of each step's timeline.csv (kept for looking at a step afterwards)."""
_WINDOW_RES_S = 0.1
"""Bucket size when summarising the hold window: events at most this long before it are counted."""
_STABLE_S = 3.0
"""A disrupted step has recovered once the SLO holds this long (1 s buckets)."""


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


def recovery_s(events: Path, slo: Slo, *, fault_start: float, end: float) -> float | None:
    """Seconds from ``fault_start`` until the SLO held for ``_STABLE_S`` (None: not within ``end``)."""
    rows = build_timeline(events, resolution_s=1.0, start=fault_start, end=end, by="start").rows
    rec = analyse_recovery(
        samples_from_rows(rows), slo, fault_start=fault_start, stabilisation_s=_STABLE_S, resolution_s=1.0, end=end
    )
    return rec.recovery_s


def _wait(seconds: float, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not alive():
            raise LoadError("the load generator stopped unexpectedly (see locust-master.out in the step folder)")
        time.sleep(min(0.2, left))


@dataclass(frozen=True)
class StepMeasurer:
    """The real ``Measure`` of the runner: load against ``target`` as the plan says.

    Starting and stopping the step's Locust run with signals deferred: a SIGTERM that landed
    while the load was starting (its process forked, not yet handed back) or stopping (waiting for it to exit)
    cut that short, and the Locust process outlived the run (a fresh-clone CI failure). The signal is raised
    once the load is stopped. The default gate is not installed: it never records a signal.
    """

    target: Target
    plan: CapacityPlan
    gate: SignalGate = field(default_factory=SignalGate)

    def __call__(self, cond: ConditionPlan, users: int, hooks: StepHooks, out: Path) -> StepResult:
        load_spec = self.plan.load
        hold_s = self.plan.hold_for(cond)
        ramp_s = users / load_spec.spawn_rate + load_spec.warmup_s
        params = {**load_spec.params(), "users": users, "duration_s": ramp_s + hold_s + _SAFETY_S}
        step_start = time.time()
        fault_at: float | None = None
        with self.gate.deferred():
            load = start_target_load(self.target, params, out / "load", workers=load_spec.workers)
        try:
            self.gate.raise_if_received()  # a signal during the start: the load is stopped below
            _wait(ramp_s, load.alive)
            t0 = time.time()
            if hooks.in_window is not None:
                _wait(hooks.in_window_at_s, load.alive)
                fault_at = time.time()
                hooks.in_window()
            _wait(t0 + hold_s - time.time(), load.alive)
            t1 = time.time()
        finally:
            with self.gate.deferred():
                load.stop()
        self.gate.raise_if_received()
        if hooks.after_step is not None:
            hooks.after_step()
        events = load.events_dir
        window = build_timeline(events, resolution_s=_WINDOW_RES_S, start=t0, end=t1).summary
        whole = build_timeline(events, resolution_s=_TIMELINE_S, start=step_start, end=t1)
        whole.write_csv(out / "timeline.csv")
        step = step_result(users, window, whole.summary, started=t0, ended=t1, latency=self.plan.latency)
        health = judge_generator(read_generator(load.generator_dir), t0, t1) if load.generator_dir else None
        recovered = None
        if fault_at is not None:
            recovered = recovery_s(events, self.plan.slo_for(cond), fault_start=fault_at, end=t1)
        return dataclasses.replace(
            step,
            conclusive=health is None or not health.saturated,
            inconclusive_reason=health.reason if health is not None and health.saturated else None,
            generator=health.to_json() if health is not None else None,
            recovery_s=recovered,
        )
