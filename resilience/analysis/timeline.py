"""Sub-second timelines from the load's event files (see ``resilience.load.events``).

``build_timeline(events_dir)`` buckets every recorded event at ``resolution_s`` (100 ms by default) and
computes per bucket: request throughput and error rate, p50/p95/p99 latency over all requests and per
kind (WebSocket send->ack, REST send, REST history, send->delivery, WebSocket connect), open WebSocket
connections, connect success and reconnects; plus whole-run figures (``Timeline.summary``).

The files are read straight into a numpy record array (the on-disk record is a packed numpy dtype), so
millions of events aggregate in about a second. Per-bucket percentiles are exact nearest-rank values
(numpy); whole-run percentiles come from an HdrHistogram (3 significant digits, microseconds up to one
hour), filled with one call per distinct value.

Empty cells (no request, no connect attempt in a bucket) are ``None`` in rows and empty in the CSV.

Attribution (``by``): an event record carries the moment its outcome was known (``t``, completion) and,
for timed kinds, how long it took (``value`` ms), so the moment it was issued is ``t - value``: for an ack
timeout that is the send itself (the client records the time since the first send). ``by="completion"``
buckets every event at ``t`` (what a live watcher can see now: the default); ``by="start"`` buckets timed
events (requests, connects, auth, deliveries) at their start, so a bucket says how the requests *issued*
in it fared — the service's state then, not the client's give-up time ten seconds later. Open sockets,
closes and reconnects stay at ``t``. ``in_flight`` is the number of requests issued and not yet answered
at each bucket's end, whatever the attribution.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from resilience.load.events import FIELDS, RECORD, REQUEST_KINDS, Kind, Raw, read_event_array

__all__ = [
    "COLUMNS",
    "DTYPE",
    "KIND_COLUMNS",
    "TIMED_KINDS",
    "Attribution",
    "Timeline",
    "build_timeline",
    "start_times",
    "timeline_from_events",
]

Attribution = Literal["completion", "start"]
"""Which moment a request's outcome belongs to: when it was known, or when the request was issued."""

TIMED_KINDS: frozenset[int] = frozenset(
    {Kind.ACK, Kind.REST_SEND, Kind.REST_HISTORY, Kind.DELIVERY, Kind.WS_CONNECT, Kind.AUTH}
)
"""Kinds whose ``value`` is the time from issue to outcome (ms), so their start time is ``t - value``."""

KIND_COLUMNS: dict[str, Kind] = {
    "ack": Kind.ACK,
    "rest_send": Kind.REST_SEND,
    "rest_history": Kind.REST_HISTORY,
    "delivery": Kind.DELIVERY,
    "connect": Kind.WS_CONNECT,
}
"""Column prefix -> event kind for the per-kind count and percentile columns."""

COLUMNS: tuple[str, ...] = (
    "t",
    "throughput",
    "error_rate",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "ws_open",
    "connect_success",
    "connects",
    "reconnects",
    "drops",
    "requests",
    "errors",
    "in_flight",
    *(f"{name}_{col}" for name in KIND_COLUMNS for col in ("count", "p50_ms", "p95_ms", "p99_ms")),
)
"""CSV columns, in order; the first seven are the cross-area contract."""

DTYPE = np.dtype(FIELDS)
"""One event record as stored on disk (``resilience.load.events.RECORD``)."""
assert DTYPE.itemsize == RECORD.size

_MAX_US = 3_600_000_000
_PCTS = (50, 95, 99)
Events = npt.NDArray[np.void]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


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


def build_timeline(
    events_dir: Path,
    *,
    resolution_s: float = 0.1,
    start: float | None = None,
    end: float | None = None,
    exact: bool = False,
    by: Attribution = "completion",
) -> Timeline:
    """The timeline of every event file in ``events_dir`` between ``start`` and ``end`` (epoch s);
    ``exact`` and ``by`` as in ``timeline_from_events``."""
    return _timeline(read_event_array(events_dir), resolution_s, start, end, exact=exact, by=by)


def timeline_from_events(
    events: Iterable[Raw] | Callable[[], Iterable[Raw]],
    *,
    resolution_s: float = 0.1,
    start: float | None = None,
    end: float | None = None,
    exact: bool = False,
    by: Attribution = "completion",
) -> Timeline:
    """The timeline of raw records ``(t, kind, ok, status, value)`` in any order (or a function returning
    them), e.g. records a caller already read; same figures as ``build_timeline``.

    ``exact``: buckets start at ``start`` itself (not at a multiple of ``resolution_s``) and stop before
    ``end`` — the live watchers judge exactly the window they name. ``by``: attribute each timed event to
    its completion (default) or its start (module doc).
    """
    records = events() if callable(events) else events
    return _timeline(np.array(list(records), dtype=DTYPE), resolution_s, start, end, exact=exact, by=by)


def start_times(ev: Events) -> Floats:
    """Each record's start (epoch s): ``t - value`` for timed kinds, ``t`` for the others."""
    t = ev["t"].astype(np.float64)
    timed = np.isin(ev["kind"], list(TIMED_KINDS))
    return np.where(timed, t - np.maximum(ev["value"].astype(np.float64), 0.0) / 1000.0, t)


def _in_flight(ev: Events, starts: Floats, edges: Floats) -> list[int]:
    """Requests issued at or before each edge and not answered by it."""
    is_req = np.isin(ev["kind"], list(REQUEST_KINDS))
    begun = np.sort(starts[is_req])
    done = np.sort(ev["t"][is_req].astype(np.float64))
    counts = np.searchsorted(begun, edges, side="right") - np.searchsorted(done, edges, side="right")
    return [max(0, c) for c in counts.tolist()]


def _timeline(
    ev: Events,
    res: float,
    start: float | None,
    end: float | None,
    *,
    exact: bool = False,
    by: Attribution = "completion",
) -> Timeline:
    if not res > 0:
        raise ValueError(f"resolution_s must be > 0 (got {res})")
    if exact:
        if start is None or end is None:
            raise ValueError("an exact timeline needs start and end")
        t0, n = start, max(0, math.ceil((end - start) / res - 1e-9))
    elif len(ev) == 0:
        return Timeline(res, [], _summary(ev, res, 0))
    else:
        lo = float(ev["t"].min()) if start is None else start
        hi = float(ev["t"].max()) if end is None else end
        t0 = math.floor(lo / res) * res
        n = max(1, math.floor((hi - t0) / res) + 1)
    t = ev["t"]
    starts = start_times(ev)
    # open sockets follow the moment a connect or close happened, whatever the attribution
    done_idx = np.floor((t - t0) / res).astype(np.int64)
    kind, ok = ev["kind"], ev["ok"].astype(bool)
    delta = ((kind == Kind.WS_CONNECT) & ok).astype(np.int64) - (kind == Kind.WS_CLOSE)
    done_in = (done_idx >= 0) & (done_idx < n)
    ws_open = int(delta[done_idx < 0].sum()) + np.cumsum(
        np.bincount(done_idx[done_in], weights=delta[done_in], minlength=n)
    )
    idx = done_idx if by == "completion" else np.floor((starts - t0) / res).astype(np.int64)
    inside = (idx >= 0) & (idx < n)
    win, b = ev[inside], idx[inside]
    in_flight = _in_flight(ev, starts, t0 + res * np.arange(1, n + 1, dtype=np.float64))
    rows = _rows(win, b, n, t0=t0, res=res, ws_open=ws_open, in_flight=in_flight)
    return Timeline(res, rows, _summary(win, res, max((r["ws_open"] for r in rows), default=0)))


def _count(bucket: npt.NDArray[np.int64], mask: Bools, n: int) -> list[int]:
    counts: list[int] = np.bincount(bucket[mask], minlength=n).tolist()
    return counts


def _bucket_percentiles(bucket: npt.NDArray[np.int64], values: Floats, n: int) -> list[list[float | None]]:
    """Nearest-rank p50/p95/p99 of ``values`` (ms) per bucket, to the microsecond; None for an empty bucket."""
    if len(values) == 0:
        return [[None] * n for _ in _PCTS]
    # one int64 sort key: bucket in the high bits, the value in microseconds (< 2**32) in the low ones
    keys = np.sort((bucket << 32) | _micros(values))
    counts = np.bincount(bucket, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = []
    for p in _PCTS:
        rank = np.maximum(np.ceil(p / 100 * counts).astype(np.int64) - 1, 0)
        picked = (keys[np.minimum(starts + rank, len(keys) - 1)] & 0xFFFFFFFF) / 1000
        out.append([v if c else None for v, c in zip(picked.tolist(), counts.tolist(), strict=True)])
    return out


def _micros(values_ms: Floats) -> npt.NDArray[np.int64]:
    return np.clip(np.rint(values_ms * 1000), 1, _MAX_US).astype(np.int64)


def _rows(
    ev: Events,
    b: npt.NDArray[np.int64],
    n: int,
    *,
    t0: float,
    res: float,
    ws_open: npt.NDArray[Any],
    in_flight: list[int],
) -> list[dict[str, Any]]:
    kind, ok, value = ev["kind"], ev["ok"].astype(bool), ev["value"].astype(np.float64)
    is_req = np.isin(kind, list(REQUEST_KINDS))
    requests, errors = _count(b, is_req, n), _count(b, is_req & ~ok, n)
    connects, connect_ok = _count(b, kind == Kind.WS_CONNECT, n), _count(b, (kind == Kind.WS_CONNECT) & ok, n)
    reconnects, drops = _count(b, kind == Kind.RECONNECT, n), _count(b, (kind == Kind.WS_CLOSE) & ~ok, n)
    timed = ok & is_req
    overall = _bucket_percentiles(b[timed], value[timed], n)
    per_kind = {}
    for name, k in KIND_COLUMNS.items():
        mask = ok & (kind == k)
        per_kind[name] = (_count(b, mask, n), _bucket_percentiles(b[mask], value[mask], n))
    rows = []
    open_now = ws_open.tolist()
    for i in range(n):
        row: dict[str, Any] = {
            "t": round(t0 + i * res, 6),
            "throughput": requests[i] / res,
            "error_rate": errors[i] / requests[i] if requests[i] else None,
            "p50_ms": overall[0][i],
            "p95_ms": overall[1][i],
            "p99_ms": overall[2][i],
            "ws_open": max(0, int(open_now[i])),
            "connect_success": connect_ok[i] / connects[i] if connects[i] else None,
            "connects": connects[i],
            "reconnects": reconnects[i],
            "drops": drops[i],
            "requests": requests[i],
            "errors": errors[i],
            "in_flight": in_flight[i],
        }
        for name, (counts, pcts) in per_kind.items():
            row[f"{name}_count"] = counts[i]
            row[f"{name}_p50_ms"], row[f"{name}_p95_ms"], row[f"{name}_p99_ms"] = (pcts[0][i], pcts[1][i], pcts[2][i])
        rows.append(row)
    return rows


def _hdr_percentiles(values_ms: Floats) -> tuple[float | None, float | None, float | None]:
    """p50/p95/p99 of ``values_ms`` through an HdrHistogram (one record call per distinct microsecond)."""
    if len(values_ms) == 0:
        return None, None, None
    hist = HdrHistogram(1, _MAX_US, 3)
    us = _micros(values_ms)
    # to 3 significant digits first (the histogram's own precision): a few thousand distinct values
    step = 10 ** np.maximum(np.floor(np.log10(us)).astype(np.int64) - 2, 0)
    for value, count in zip(*np.unique(us // step * step, return_counts=True), strict=True):
        hist.record_value(int(value), int(count))
    got = hist.get_percentile_to_value_dict(list(_PCTS))
    return got[50] / 1000, got[95] / 1000, got[99] / 1000


def _summary(ev: Events, res: float, ws_open_peak: int) -> dict[str, Any]:
    """Whole-run figures: totals, rates and per-kind percentiles."""
    kind, ok, value = ev["kind"], ev["ok"].astype(bool), ev["value"].astype(np.float64)
    is_req = np.isin(kind, list(REQUEST_KINDS))
    requests, errors = int(is_req.sum()), int((is_req & ~ok).sum())
    connects = kind == Kind.WS_CONNECT
    span = float(ev["t"].max() - ev["t"].min()) + res if len(ev) else 0.0
    out: dict[str, Any] = {
        "span_s": span,
        "requests": requests,
        "errors": errors,
        "error_rate": errors / requests if requests else None,
        "throughput": requests / span if span else 0.0,
        "messages_acked": int((ok & np.isin(kind, [Kind.ACK, Kind.REST_SEND])).sum()),
        "connects": int(connects.sum()),
        "connect_success": float((connects & ok).sum() / connects.sum()) if connects.any() else None,
        "reconnects": int((kind == Kind.RECONNECT).sum()),
        "drops": int(((kind == Kind.WS_CLOSE) & ~ok).sum()),
        "ws_open_peak": ws_open_peak,
    }
    out["p50_ms"], out["p95_ms"], out["p99_ms"] = _hdr_percentiles(value[ok & is_req])
    for name, k in KIND_COLUMNS.items():
        mask = ok & (kind == k)
        out[f"{name}_count"] = int(mask.sum())
        out[f"{name}_p50_ms"], out[f"{name}_p95_ms"], out[f"{name}_p99_ms"] = _hdr_percentiles(value[mask])
    return out
