"""Recovery analysis on a load timeline: SLO checks, time to detect, recovery time, peaks.

Pure computation on ``Sample`` rows (one per timeline bucket of ``resolution_s`` seconds, ``t`` = bucket
start, epoch seconds), so it is unit-tested on synthetic data.

Definitions (DESIGN.md, Measurement):

* a bucket *holds* when every objective of the SLO holds in it (an objective with no data — no request,
  no WebSocket connect — holds);
* time to detect = end of the first violating bucket at or after the fault start, minus the fault start;
* recovered at = start of the first run of holding buckets that lasts the stabilisation window and starts
  once the fault was both detected and removed (fault end; the fault start for instant faults such as a
  kill): later blips do not undo a recovery that was reached. Without any violation, the fault start; so
  too when the SLO rode through the fault — it held for the stabilisation window from the fault start and
  the fault was removed within that window — and broke only afterwards: that later breach is no detection
  of this fault (it stays in the timeline and in the SLO summary), and an experiment that ends right after
  it is not "not recovered". Recovery time = recovered at - fault start; ``None`` when the data never
  shows such a run (not recovered within the observation).

The error budget an experiment used is ``resilience.analysis.budget`` (from the availability objective).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resilience.slo import Slo

__all__ = [
    "Recovery",
    "Sample",
    "SloVerdict",
    "analyse_recovery",
    "broken_objectives",
    "holds",
    "judge_window",
    "peak",
    "summarise",
    "violations",
    "window",
]


@dataclass(frozen=True)
class Sample:
    """One timeline bucket."""

    t: float
    throughput: float = 0.0
    """Completed requests per second in the bucket."""
    error_rate: float = 0.0
    p95_ms: float | None = None
    p99_ms: float | None = None
    connect_success: float | None = None
    """Share of WebSocket connection attempts that succeeded (None: no attempt)."""


@dataclass(frozen=True)
class Recovery:
    """What the timeline says about one fault."""

    fault_start: float
    detected_at: float | None
    recovered_at: float | None
    stabilisation_s: float

    @property
    def detect_s(self) -> float | None:
        return None if self.detected_at is None else round(self.detected_at - self.fault_start, 3)

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered_at is None else round(self.recovered_at - self.fault_start, 3)


def _ok(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def violations(sample: Sample, slo: Slo) -> list[str]:
    """Names of the objectives ``sample`` breaks (empty: the SLO holds in this bucket)."""
    broken: list[str] = []
    if slo.p95_ms is not None and _ok(sample.p95_ms) and sample.throughput > 0 and sample.p95_ms > slo.p95_ms:  # type: ignore[operator]
        broken.append("p95_ms")
    if slo.p99_ms is not None and _ok(sample.p99_ms) and sample.throughput > 0 and sample.p99_ms > slo.p99_ms:  # type: ignore[operator]
        broken.append("p99_ms")
    if slo.error_rate is not None and sample.throughput > 0 and sample.error_rate > slo.error_rate:
        broken.append("error_rate")
    connect = sample.connect_success
    if slo.ws_connect_success is not None and connect is not None and _ok(connect) and connect < slo.ws_connect_success:
        broken.append("ws_connect_success")
    if slo.throughput_min and sample.throughput < slo.throughput_min:
        broken.append("throughput_min")
    return broken


def holds(sample: Sample, slo: Slo) -> bool:
    """Whether every objective holds in ``sample``."""
    return not violations(sample, slo)


def window(samples: Iterable[Sample], start: float | None, end: float | None, resolution_s: float) -> list[Sample]:
    """The buckets overlapping ``[start, end)`` (either end open when None), in time order."""
    return [
        s
        for s in sorted(samples, key=lambda s: s.t)
        if (start is None or s.t + resolution_s > start) and (end is None or s.t < end)
    ]


def _first_stable_run(
    rows: Sequence[Sample], slo: Slo, *, after: float, stabilisation_s: float, resolution_s: float
) -> float | None:
    """Start of the first run of holding buckets, at or after ``after``, that lasts ``stabilisation_s``."""
    run_start: float | None = None
    for s in rows:
        if s.t + resolution_s <= after:
            continue
        if not holds(s, slo):
            run_start = None
            continue
        run_start = max(s.t, after) if run_start is None else run_start
        if s.t + resolution_s - run_start >= stabilisation_s - 1e-9:
            return run_start
    return None


def analyse_recovery(
    samples: Sequence[Sample],
    slo: Slo,
    *,
    fault_start: float,
    stabilisation_s: float,
    resolution_s: float,
    fault_end: float | None = None,
    end: float | None = None,
) -> Recovery:
    """Time to detect and recovery time of the fault that started at ``fault_start`` (see module doc)."""
    rows = window(samples, fault_start, end, resolution_s)
    bad = [s for s in rows if not holds(s, slo)]
    stable = _first_stable_run(rows, slo, after=fault_start, stabilisation_s=stabilisation_s, resolution_s=resolution_s)
    if not bad:
        return Recovery(fault_start, None, fault_start if stable is not None else None, stabilisation_s)
    removed = fault_end if fault_end is not None else fault_start
    if stable == fault_start and fault_start + stabilisation_s >= removed:
        return Recovery(fault_start, None, fault_start, stabilisation_s)  # rode through: later breaches are not its
    detected_at = max(bad[0].t + resolution_s, fault_start)
    after = max(detected_at, removed)
    recovered_at = _first_stable_run(rows, slo, after=after, stabilisation_s=stabilisation_s, resolution_s=resolution_s)
    return Recovery(fault_start, detected_at, recovered_at, stabilisation_s)


def peak(
    samples: Sequence[Sample], field: str, *, resolution_s: float, start: float | None = None, end: float | None = None
) -> float | None:
    """Highest value of ``field`` (``p95_ms``, ``error_rate``, ...) in the window; None without data."""
    values = [getattr(s, field) for s in window(samples, start, end, resolution_s)]
    numbers = [float(v) for v in values if _ok(v)]
    return max(numbers) if numbers else None


def summarise(
    samples: Sequence[Sample],
    slo: Slo,
    *,
    resolution_s: float,
    start: float | None = None,
    end: float | None = None,
) -> dict[str, float | bool | list[str] | None]:
    """One aggregate over the window: requests, error rate, worst p95, and which objectives broke."""
    rows = window(samples, start, end, resolution_s)
    requests = sum(s.throughput * resolution_s for s in rows)
    failed = sum(s.throughput * resolution_s * s.error_rate for s in rows)
    broken = sorted({v for s in rows for v in violations(s, slo)})
    return {
        "requests": round(requests),
        "error_rate": round(failed / requests, 6) if requests else 0.0,
        "peak_p95_ms": peak(rows, "p95_ms", resolution_s=resolution_s),
        "holds": not broken,
        "violated": broken,
    }


_MEASURED: dict[str, tuple[str, str, str]] = {
    "p95_ms": ("p95_ms", "p95_ms", "{:.1f} ms > {:g} ms"),
    "p99_ms": ("p99_ms", "p99_ms", "{:.1f} ms > {:g} ms"),
    "error_rate": ("error_rate", "error_rate", "{:.2%} > {:.2%}"),
    "ws_connect_success": ("connect_success", "ws_connect_success", "{:.2%} < {:.2%}"),
    "throughput_min": ("throughput", "throughput_min", "{:.1f}/s < {:g}/s"),
}
"""Objective -> (Sample field measured, Slo field, how to print measured vs limit)."""


def broken_objectives(samples: Iterable[Sample], limits: Slo) -> list[str]:
    """Why the SLO broke, one phrase per broken objective and bucket: name, measured value, limit."""
    out: list[str] = []
    for s in samples:
        for name in violations(s, limits):
            field, limit_field, fmt = _MEASURED[name]
            out.append(f"{name} " + fmt.format(getattr(s, field), getattr(limits, limit_field)))
    return out


@dataclass(frozen=True)
class SloVerdict:
    """Whether the SLO held over a window, and why not (one phrase per broken objective, with its value)."""

    holds: bool
    reasons: tuple[str, ...]
    requests: int


def judge_window(samples: Sequence[Sample], slo: Slo, *, resolution_s: float) -> SloVerdict:
    """The SLO over ``samples`` (a window, typically one bucket as long as the window: the steady-state
    probes' rule); a window without requests does not hold (nothing was measured)."""
    report = summarise(samples, slo, resolution_s=resolution_s)
    requests = int(report["requests"] or 0)  # type: ignore[arg-type]
    reasons = broken_objectives(samples, slo) or ([] if requests else ["no requests"])
    return SloVerdict(bool(report["holds"]) and requests > 0, tuple(reasons), requests)
