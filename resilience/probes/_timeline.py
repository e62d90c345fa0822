"""Read the load's events as ``Sample`` rows (the adapter between resilience.analysis.timeline and recovery)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from resilience.analysis.recovery import Sample, SloLimits

__all__ = ["limits_from", "read_samples", "samples_from_rows"]


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
    events_dir: Path, *, resolution_s: float, start: float | None = None, end: float | None = None
) -> list[Sample]:
    """Build the timeline of the load's raw events at ``resolution_s`` and return it as samples."""
    from resilience.analysis.timeline import build_timeline

    timeline = build_timeline(events_dir, resolution_s=resolution_s, start=start, end=end)
    return samples_from_rows(timeline.rows)


def limits_from(slo: Mapping[str, Any] | None) -> SloLimits:
    """SloLimits from a mapping of ``resilience.scenario.Slo`` fields (defaults for missing keys)."""
    from resilience.scenario import Slo

    model = Slo().merged(slo or {})
    return SloLimits(
        p95_ms=model.p95_ms,
        error_rate=model.error_rate,
        p99_ms=model.p99_ms,
        ws_connect_success=model.ws_connect_success,
        throughput_min=model.throughput_min,
    )
