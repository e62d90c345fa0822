"""Per-request latencies from the load's raw event files, for true latency distributions.

The load writes ``<run>/load/events/events-*.bin``; ``resilience.load.events`` reads them into one numpy
array, and this module keeps the successful requests: WebSocket send->ack, REST send, REST history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resilience.load.events import REQUEST_KINDS, read_event_array
from resilience.report.series import FloatArray

__all__ = ["RequestLatencies", "find_events_dir", "read_request_latencies"]


@dataclass(frozen=True)
class RequestLatencies:
    """Completion time (epoch s) and latency (ms) of every successful request, sorted by time."""

    t: FloatArray
    latency_ms: FloatArray

    def window(self, start: float | None, end: float | None) -> RequestLatencies:
        """The requests that completed in ``[start, end)`` (an open side when None)."""
        mask = np.ones(self.t.shape, dtype=bool)
        if start is not None:
            mask &= self.t >= start
        if end is not None:
            mask &= self.t < end
        return RequestLatencies(self.t[mask], self.latency_ms[mask])

    def __len__(self) -> int:
        return len(self.t)


def find_events_dir(run_dir: Path, load: dict[str, Any]) -> Path | None:
    """The folder holding events-*.bin: ``load.events_dir`` (relative to the run) or its ``events`` child."""
    named = load.get("events_dir")
    base = run_dir / (named if isinstance(named, str) and named else "load")
    for folder in (base / "events", base):
        if folder.is_dir() and any(folder.glob("events-*.bin")):
            return folder
    return None


def read_request_latencies(events_dir: Path) -> RequestLatencies:
    """Every successful request of every events file in ``events_dir``."""
    kinds = np.asarray(sorted(int(k) for k in REQUEST_KINDS), dtype=np.uint8)
    records = read_event_array(events_dir, strict=False)
    keep = np.isin(records["kind"], kinds) & (records["ok"] == 1) & np.isfinite(records["value"])
    t = records["t"][keep].astype(np.float64)
    latency = records["value"][keep].astype(np.float64)
    order = np.argsort(t, kind="stable")
    return RequestLatencies(t[order], latency[order])
