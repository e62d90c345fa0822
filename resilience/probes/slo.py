"""SLO probes over a window of the load timeline: p95/p99 latency, error rate, WebSocket connect success,
throughput floor.

Thresholds come from the scenario (the runner puts them in the configuration under ``resilience_slo``),
else from the experiment's own ``slo`` argument, else from the chat service's defaults.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from resilience.analysis.recovery import broken_objectives, holds, summarise
from resilience.analysis.samples import samples_of
from resilience.context import RunContext
from resilience.load.events import EventTail, Raw
from resilience.slo import Slo

__all__ = ["broken_objectives", "slo_holds", "slo_report", "wait_for_slo"]

log = logging.getLogger(__name__)

_LAG_S = 1.0
"""Events reach the disk in batches: judge the window that ended this long ago."""


def _slo(configuration: Mapping[str, Any] | None, slo: Mapping[str, Any] | None) -> dict[str, Any]:
    merged: dict[str, Any] = dict(slo or {})
    merged.update(RunContext.of(configuration).slo)
    return merged


def slo_report(
    window_s: float = 5.0, slo: dict[str, Any] | None = None, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Requests, error rate, worst p95 and broken objectives over the last ``window_s`` seconds."""
    events = RunContext.of(configuration).folder("events_dir")
    limits = Slo().merged(_slo(configuration, slo))
    end = time.time() - _LAG_S
    res = window_s  # one bucket: the SLO over the window, as a dashboard would show it
    recent = [r for r in EventTail(events).poll() if r[0] >= end - window_s]
    samples = samples_of(recent, start=end - window_s, end=end, resolution_s=res)
    report = summarise(samples, limits, resolution_s=res, start=end - window_s, end=end)
    report["window_s"] = window_s
    report["why"] = broken_objectives(samples, limits) or ([] if report["requests"] else ["no requests"])
    return report


def slo_holds(
    window_s: float = 5.0, slo: dict[str, Any] | None = None, configuration: Mapping[str, Any] | None = None
) -> bool:
    """Whether the SLO held over the last ``window_s`` seconds (p95, error rate, ... of the whole window).

    The probe's output stays a bool (the experiments' tolerance is ``true``); when it is False the reason
    (objective, measured value, limit) is logged at WARNING, so the run's output says why.
    """
    report = slo_report(window_s, slo, configuration)
    ok = bool(report["holds"]) and bool(report["requests"])
    if ok:
        log.info("SLO over the last %.1f s: %s", window_s, report)
    else:
        log.warning(
            "SLO broken over the last %.1f s: %s (%s requests)",
            window_s,
            "; ".join(map(str, report["why"])),
            report["requests"],
        )
    return ok


def wait_for_slo(
    stable_s: float = 5.0,
    timeout_s: float = 60.0,
    slo: dict[str, Any] | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> bool:
    """Wait until the SLO has held, judged per second, for ``stable_s`` seconds in a row; False after ``timeout_s``."""
    events = RunContext.of(configuration).folder("events_dir")
    limits = Slo().merged(_slo(configuration, slo))
    deadline = time.monotonic() + timeout_s
    started = time.time()
    tail = EventTail(events)
    records: list[Raw] = []
    while True:
        records.extend(r for r in tail.poll() if r[0] >= started)
        end = time.time() - _LAG_S
        samples = samples_of(records, start=started, end=end, resolution_s=1.0)
        good_since = started
        for s in samples:
            if not holds(s, limits):
                good_since = s.t + 1.0
        if end - good_since >= stable_s and any(s.throughput > 0 for s in samples):
            return True
        if time.monotonic() >= deadline:
            log.warning("SLO did not hold for %.1f s within %.0f s", stable_s, timeout_s)
            return False
        time.sleep(0.25)
