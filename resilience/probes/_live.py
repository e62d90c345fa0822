"""Live view of the load's events for watchers that poll (safeguards, ``wait_for_slo``).

``EventTail`` reads only the bytes appended since its last poll (the events files are append-only,
fixed-size records: see ``resilience.load.events``), so polling every few hundred milliseconds costs
little however long the run is. ``samples_of`` buckets raw records into ``Sample`` rows (pure).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from resilience.analysis.recovery import Sample

__all__ = ["EventTail", "Raw", "samples_of"]

Raw = tuple[float, int, int, int, float]
"""One event record: (t epoch s, kind, ok, status, value)."""


class EventTail:
    """Incremental reader of every ``events-*.bin`` file in a folder."""

    def __init__(self, events_dir: Path) -> None:
        self.events_dir = events_dir
        self._offsets: dict[Path, int] = {}

    def poll(self) -> list[Raw]:
        """Records appended since the last poll (whole records only; a torn tail waits for the next poll)."""
        from resilience.load.events import MAGIC, RECORD

        out: list[Raw] = []
        for path in sorted(self.events_dir.glob("events-*.bin")):
            offset = self._offsets.get(path, len(MAGIC))
            try:
                with path.open("rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except OSError:
                continue
            whole = len(data) - len(data) % RECORD.size
            if whole:
                out.extend(RECORD.iter_unpack(data[:whole]))
                self._offsets[path] = offset + whole
        return out


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    values.sort()
    return values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]


def samples_of(records: Iterable[Raw], *, start: float, end: float, resolution_s: float) -> list[Sample]:
    """Buckets of ``resolution_s`` from ``start`` to ``end``: throughput, error rate, p95, connect success."""
    from resilience.load.events import REQUEST_KINDS, Kind

    n = max(0, math.ceil((end - start) / resolution_s - 1e-9))
    req = [0] * n
    err = [0] * n
    conn = [0] * n
    conn_ok = [0] * n
    lat: list[list[float]] = [[] for _ in range(n)]
    for t, kind, ok, _status, value in records:
        i = math.floor((t - start) / resolution_s)
        if not 0 <= i < n:
            continue
        if kind in REQUEST_KINDS:
            req[i] += 1
            err[i] += 0 if ok else 1
            if ok:
                lat[i].append(value)
        elif kind == Kind.WS_CONNECT:
            conn[i] += 1
            conn_ok[i] += 1 if ok else 0
    return [
        Sample(
            t=start + i * resolution_s,
            throughput=req[i] / resolution_s,
            error_rate=err[i] / req[i] if req[i] else 0.0,
            p95_ms=_p95(lat[i]),
            connect_success=conn_ok[i] / conn[i] if conn[i] else None,
        )
        for i in range(n)
    ]
