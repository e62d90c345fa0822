"""Per-request latencies from the load's raw event files, for true latency distributions.

The load writes ``<run>/load/events/events-*.bin`` (format in ``resilience.load.events``: a magic header,
then fixed-size records ``t, kind, ok, status, value``). This module reads them with numpy in one pass
(no per-record Python objects) and keeps the successful requests: WebSocket send->ack, REST send, REST
history. A torn last record is ignored, like the load's own reader does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from resilience.load.events import MAGIC, RECORD, REQUEST_KINDS
from resilience.report.series import FloatArray

__all__ = ["RequestLatencies", "find_events_dir", "read_request_latencies"]

log = logging.getLogger(__name__)

_DTYPE = np.dtype([("t", "<f8"), ("kind", "u1"), ("ok", "u1"), ("status", "<u2"), ("value", "<f4")])
assert _DTYPE.itemsize == RECORD.size, "events record layout changed"


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


def _records(path: Path) -> np.ndarray[Any, np.dtype[Any]]:
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        log.warning("%s: not an events file (bad magic); left out", path)
        return np.empty(0, dtype=_DTYPE)
    count = (len(data) - len(MAGIC)) // _DTYPE.itemsize
    return np.frombuffer(data, dtype=_DTYPE, count=count, offset=len(MAGIC))


def read_request_latencies(events_dir: Path) -> RequestLatencies:
    """Every successful request of every events file in ``events_dir``."""
    kinds = np.asarray(sorted(int(k) for k in REQUEST_KINDS), dtype=np.uint8)
    times, values = [], []
    for path in sorted(events_dir.glob("events-*.bin")):
        records = _records(path)
        keep = np.isin(records["kind"], kinds) & (records["ok"] == 1) & np.isfinite(records["value"])
        times.append(records["t"][keep].astype(np.float64))
        values.append(records["value"][keep].astype(np.float64))
    t = np.concatenate(times) if times else np.empty(0)
    latency = np.concatenate(values) if values else np.empty(0)
    order = np.argsort(t, kind="stable")
    return RequestLatencies(t[order], latency[order])
