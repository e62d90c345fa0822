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

Generator health (interim, until the load layer reports it): the CPU of every Locust process over the hold
window (psutil); a process at >= 90 % of a core makes the step inconclusive — it measured the generator.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from resilience.analysis.capacity import StepResult
from resilience.analysis.recovery import analyse_recovery
from resilience.analysis.samples import samples_from_rows
from resilience.analysis.timeline import build_timeline
from resilience.capacity.conditions import StepHooks
from resilience.capacity.plan import CapacityPlan, ConditionPlan
from resilience.controls.load import start_target_load
from resilience.errors import LoadError
from resilience.slo import Slo
from resilience.targets.base import Target

__all__ = ["GeneratorCpu", "StepMeasurer", "generator_judgement", "recovery_s", "step_result"]

log = logging.getLogger(__name__)

_SAFETY_S = 120.0
"""The load's own duration exceeds the step by this much: it ends itself if the harness dies."""
_TIMELINE_S = 1.0
"""Resolution of each step's timeline.csv (kept for looking at a step afterwards)."""
_WINDOW_RES_S = 0.1
"""Bucket size when summarising the hold window: events at most this long before it are counted."""
_STABLE_S = 3.0
"""A disrupted step has recovered once the SLO holds this long (1 s buckets)."""
GENERATOR_CPU_LIMIT = 0.9
"""A Locust process busier than this share of a core over the hold window makes the step inconclusive."""


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


class GeneratorCpu:
    """CPU share of each load-generator process between ``__init__`` and ``busiest()``."""

    def __init__(self, pids: list[int]) -> None:
        self._procs: list[tuple[psutil.Process, float]] = []
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                self._procs.append((proc, sum(proc.cpu_times()[:2])))
            except psutil.Error:
                continue
        self._t0 = time.monotonic()

    def busiest(self) -> float | None:
        """The highest CPU share (1.0 = one core) of any of the processes; None when none could be read."""
        span = max(time.monotonic() - self._t0, 1e-6)
        shares = []
        for proc, before in self._procs:
            try:
                shares.append((sum(proc.cpu_times()[:2]) - before) / span)
            except psutil.Error:
                continue
        return max(shares, default=None)


def generator_judgement(busiest_cpu: float | None) -> tuple[bool, str | None]:
    """(conclusive, reason): a load generator at >= ``GENERATOR_CPU_LIMIT`` of a core measured itself."""
    if busiest_cpu is not None and busiest_cpu >= GENERATOR_CPU_LIMIT:
        return False, f"load generator at {busiest_cpu:.0%} CPU over the hold window (>= {GENERATOR_CPU_LIMIT:.0%})"
    return True, None


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
        hold_s = self.plan.hold_for(cond)
        ramp_s = users / load_spec.spawn_rate + load_spec.warmup_s
        params = {**load_spec.params(), "users": users, "duration_s": ramp_s + hold_s + _SAFETY_S}
        step_start = time.time()
        fault_at: float | None = None
        load = start_target_load(self.target, params, out / "load", workers=load_spec.workers)
        try:
            _wait(ramp_s, load.alive)
            t0 = time.time()
            cpu = GeneratorCpu(load.pids)
            if hooks.in_window is not None:
                _wait(hooks.in_window_at_s, load.alive)
                fault_at = time.time()
                hooks.in_window()
            _wait(t0 + hold_s - time.time(), load.alive)
            t1 = time.time()
            busiest = cpu.busiest()
        finally:
            load.stop()
        if hooks.after_step is not None:
            hooks.after_step()
        events = load.events_dir
        window = build_timeline(events, resolution_s=_WINDOW_RES_S, start=t0, end=t1).summary
        whole = build_timeline(events, resolution_s=_TIMELINE_S, start=step_start, end=t1)
        whole.write_csv(out / "timeline.csv")
        step = step_result(users, window, whole.summary, started=t0, ended=t1, latency=self.plan.latency)
        conclusive, why = generator_judgement(busiest)
        recovered = None
        if fault_at is not None:
            recovered = recovery_s(events, self.plan.slo_for(cond), fault_start=fault_at, end=t1)
        return dataclasses.replace(step, conclusive=conclusive, inconclusive_reason=why, recovery_s=recovered)
