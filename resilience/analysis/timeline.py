"""Sub-second timelines from the load's event files (see ``resilience.load.events``).

``build_timeline(events_dir)`` buckets every recorded event at ``resolution_s`` (100 ms by default) and
computes per bucket: request throughput and error rate, p50/p95/p99 latency over all requests and per
kind (WebSocket send->ack, REST send, REST history, send->delivery, WebSocket connect), open WebSocket
connections, connect success and reconnects. Percentiles come from HdrHistogram (2 significant digits
per bucket, 3 for whole-run figures), values in microseconds up to one hour.

Empty cells (no request, no connect attempt in a bucket) are ``None`` in rows and empty in the CSV.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from resilience.load.events import REQUEST_KINDS, Kind, iter_events

__all__ = ["COLUMNS", "KIND_COLUMNS", "Timeline", "build_timeline", "timeline_from_events"]

KIND_COLUMNS: dict[str, Kind] = {
    "ack": Kind.ACK,
    "rest_send": Kind.REST_SEND,
    "rest_history": Kind.REST_HISTORY,
    "delivery": Kind.DELIVERY,
    "connect": Kind.WS_CONNECT,
}
"""Column prefix -> event kind for the per-kind count and percentile columns."""

COLUMNS: tuple[str, ...] = (
    "t", "throughput", "error_rate", "p50_ms", "p95_ms", "p99_ms", "ws_open",
    "connect_success", "connects", "reconnects", "drops", "requests", "errors",
    *(f"{name}_{col}" for name in KIND_COLUMNS for col in ("count", "p50_ms", "p95_ms", "p99_ms")),
)
"""CSV columns, in order; the first seven are the cross-area contract."""

_MAX_US = 3_600_000_000
_PCTS = (50, 95, 99)
Raw = tuple[float, int, int, int, float]
_TIMED = frozenset({*REQUEST_KINDS, Kind.DELIVERY, Kind.WS_CONNECT})


def _histogram(digits: int) -> HdrHistogram:
    return HdrHistogram(1, _MAX_US, digits)


Pcts = tuple[float | None, float | None, float | None]


def _query(hist: HdrHistogram) -> Pcts:
    if hist.get_total_count() == 0:
        return None, None, None
    got = hist.get_percentile_to_value_dict(list(_PCTS))
    return got[50] / 1000, got[95] / 1000, got[99] / 1000


def _percentiles(hist: HdrHistogram, values: Iterable[float]) -> Pcts:
    hist.reset()
    for ms in values:
        hist.record_value(min(_MAX_US, max(1, round(ms * 1000))))
    return _query(hist)


@dataclass
class _Bucket:
    requests: int = 0
    errors: int = 0
    connects: int = 0
    connect_ok: int = 0
    reconnects: int = 0
    drops: int = 0
    ws_delta: int = 0
    latencies: dict[int, array[float]] = field(default_factory=dict)

    def add(self, kind: int, ok: int, value: float) -> None:
        if kind in REQUEST_KINDS:
            self.requests += 1
            self.errors += 0 if ok else 1
        elif kind == Kind.WS_CONNECT:
            self.connects += 1
            self.connect_ok += 1 if ok else 0
        elif kind == Kind.RECONNECT:
            self.reconnects += 1
        elif kind == Kind.WS_CLOSE:
            self.drops += 0 if ok else 1
        self.ws_delta += _ws_delta(kind, ok)
        if ok and kind in _TIMED:
            self.latencies.setdefault(kind, array("f")).append(value)


class _Totals:
    """Whole-run counters and 3-digit histograms, fed event by event."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = defaultdict(int)
        self.hists: dict[int, HdrHistogram] = {k: _histogram(3) for k in (*_TIMED, 0)}
        self.first = math.inf
        self.last = -math.inf

    def add(self, t: float, kind: int, ok: int, value: float) -> None:
        self.first, self.last = min(self.first, t), max(self.last, t)
        counts = self.counts
        if kind in REQUEST_KINDS:
            counts["requests"] += 1
            counts["errors"] += 0 if ok else 1
            counts["messages_acked"] += 1 if ok and kind in (Kind.ACK, Kind.REST_SEND) else 0
        elif kind == Kind.WS_CONNECT:
            counts["connects"] += 1
            counts["connect_ok"] += 1 if ok else 0
        elif kind == Kind.RECONNECT:
            counts["reconnects"] += 1
        elif kind == Kind.WS_CLOSE:
            counts["drops"] += 0 if ok else 1
        if ok and kind in _TIMED:
            us = min(_MAX_US, max(1, round(value * 1000)))
            self.hists[kind].record_value(us)
            if kind in REQUEST_KINDS:
                self.hists[0].record_value(us)

    def summary(self, res: float, ws_open_peak: int) -> dict[str, Any]:
        c = self.counts
        span = self.last - self.first + res if c else 0.0
        out: dict[str, Any] = {
            "span_s": span, "requests": c["requests"], "errors": c["errors"],
            "error_rate": c["errors"] / c["requests"] if c["requests"] else None,
            "throughput": c["requests"] / span if span else 0.0, "messages_acked": c["messages_acked"],
            "connects": c["connects"], "connect_success": c["connect_ok"] / c["connects"] if c["connects"] else None,
            "reconnects": c["reconnects"], "drops": c["drops"], "ws_open_peak": ws_open_peak,
        }
        out["p50_ms"], out["p95_ms"], out["p99_ms"] = _query(self.hists[0])
        for name, kind in KIND_COLUMNS.items():
            out[f"{name}_count"] = self.hists[kind].get_total_count()
            out[f"{name}_p50_ms"], out[f"{name}_p95_ms"], out[f"{name}_p99_ms"] = _query(self.hists[kind])
        return out


@dataclass(frozen=True)
class Timeline:
    """Rows of per-bucket figures (dicts keyed by ``COLUMNS``) plus whole-run figures."""

    resolution_s: float
    rows: list[dict[str, Any]]
    summary: dict[str, Any]

    def column(self, name: str) -> list[Any]:
        """One column's values, row by row."""
        return [row[name] for row in self.rows]

    def write_csv(self, path: Path) -> Path:
        """Write the rows as CSV (``COLUMNS`` order, empty cells for None); return the path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            for row in self.rows:
                writer.writerow(_cell(row[c]) for c in COLUMNS)
        return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") if not value.is_integer() else str(int(value))
    return str(value)


def build_timeline(events_dir: Path, *, resolution_s: float = 0.1, start: float | None = None,
                   end: float | None = None) -> Timeline:
    """The timeline of every event file in ``events_dir`` between ``start`` and ``end`` (epoch s)."""
    return timeline_from_events(lambda: iter_events(events_dir), resolution_s=resolution_s, start=start, end=end)


def timeline_from_events(events: Callable[[], Iterable[Raw]], *, resolution_s: float = 0.1,
                         start: float | None = None, end: float | None = None) -> Timeline:
    """The timeline of raw records ``(t, kind, ok, status, value)`` in any order - the pure core.

    ``events`` is called once or twice (a first pass finds the time range when not given), so large runs
    stream from disk instead of being held in memory.
    """
    if not resolution_s > 0:
        raise ValueError(f"resolution_s must be > 0 (got {resolution_s})")
    lo, hi = start, end
    if lo is None or hi is None:
        times = [math.inf, -math.inf]
        for rec in events():
            times[0], times[1] = min(times[0], rec[0]), max(times[1], rec[0])
        if times[0] == math.inf:
            return Timeline(resolution_s, [], _Totals().summary(resolution_s, 0))
        lo = times[0] if lo is None else lo
        hi = times[1] if hi is None else hi
    t0 = math.floor(lo / resolution_s) * resolution_s
    n = max(1, math.floor((hi - t0) / resolution_s) + 1)
    buckets = [_Bucket() for _ in range(n)]
    totals = _Totals()
    ws_before = 0
    for t, kind, ok, _status, value in events():
        i = math.floor((t - t0) / resolution_s)
        if i < 0:
            ws_before += _ws_delta(kind, ok)
        elif i < n:
            buckets[i].add(kind, ok, value)
            totals.add(t, kind, ok, value)
    rows = list(_rows(buckets, t0, resolution_s, ws_before))
    return Timeline(resolution_s, rows, totals.summary(resolution_s, max((r["ws_open"] for r in rows), default=0)))


def _ws_delta(kind: int, ok: int) -> int:
    if kind == Kind.WS_CONNECT and ok:
        return 1
    return -1 if kind == Kind.WS_CLOSE else 0


def _rows(buckets: list[_Bucket], t0: float, res: float, ws_open: int) -> Iterator[dict[str, Any]]:
    hist = _histogram(2)
    for i, b in enumerate(buckets):
        ws_open += b.ws_delta
        p50, p95, p99 = _percentiles(hist, (v for k in REQUEST_KINDS for v in b.latencies.get(k, ())))
        row: dict[str, Any] = {
            "t": round(t0 + i * res, 6), "throughput": b.requests / res,
            "error_rate": b.errors / b.requests if b.requests else None,
            "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "ws_open": max(0, ws_open),
            "connect_success": b.connect_ok / b.connects if b.connects else None,
            "connects": b.connects, "reconnects": b.reconnects, "drops": b.drops,
            "requests": b.requests, "errors": b.errors,
        }
        for name, kind in KIND_COLUMNS.items():
            values = b.latencies.get(kind, array("f"))
            row[f"{name}_count"] = len(values)
            row[f"{name}_p50_ms"], row[f"{name}_p95_ms"], row[f"{name}_p99_ms"] = _percentiles(hist, values)
        yield row
