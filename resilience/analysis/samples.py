"""The load's events as SLO samples: one bucketing and one percentile for the live watchers (safeguards,
``wait_for_slo``, the SLO probes) and for the verdict, so they never disagree on the same window.

Both go through ``resilience.analysis.timeline`` (nearest-rank percentiles per bucket); this module only
turns its rows into ``Sample`` objects that ``resilience.analysis.recovery`` judges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from resilience.analysis.recovery import Sample
from resilience.analysis.timeline import build_timeline, timeline_from_events
from resilience.load.events import Raw

__all__ = ["read_samples", "samples_from_rows", "samples_of"]


def _num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _get(row: Any, name: str) -> Any:
    if isinstance(row, Mapping):
        return row.get(name)
    return getattr(row, name, None)


def samples_from_rows(rows: Iterable[Any]) -> list[Sample]:
    """Samples from timeline rows (objects with attributes, or mappings such as CSV rows)."""
    samples = []
    for row in rows:
        t = _num(_get(row, "t"))
        if t is None:
            continue
        samples.append(
            Sample(
                t=t,
                throughput=_num(_get(row, "throughput")) or 0.0,
                error_rate=_num(_get(row, "error_rate")) or 0.0,
                p95_ms=_num(_get(row, "p95_ms")),
                p99_ms=_num(_get(row, "p99_ms")),
                connect_success=_num(_get(row, "connect_success")),
            )
        )
    return samples


def read_samples(
    events_dir: Path,
    *,
    resolution_s: float,
    start: float | None = None,
    end: float | None = None,
    exact: bool = False,
) -> list[Sample]:
    """Build the timeline of the load's raw events at ``resolution_s`` and return it as samples (``exact``:
    buckets from exactly ``start`` to ``end``, see ``timeline_from_events``)."""
    timeline = build_timeline(events_dir, resolution_s=resolution_s, start=start, end=end, exact=exact)
    return samples_from_rows(timeline.rows)


def samples_of(records: Iterable[Raw], *, start: float, end: float, resolution_s: float) -> list[Sample]:
    """Buckets of ``resolution_s`` from exactly ``start`` to ``end`` of records a watcher already read."""
    timeline = timeline_from_events(records, resolution_s=resolution_s, start=start, end=end, exact=True)
    return samples_from_rows(timeline.rows)
