"""Probe helpers on synthetic data: timeline rows to samples, SLO limits, the safeguard's breach detection."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from resilience.analysis.recovery import Sample
from resilience.analysis.samples import samples_from_rows
from resilience.controls.safeguards import breached_since
from resilience.slo import Slo

pytestmark = pytest.mark.unit


@dataclass
class _Row:
    t: float
    throughput: float
    error_rate: float
    p95_ms: float | None


def test_rows_as_objects_or_csv_mappings() -> None:
    """Timeline rows become samples whether they are objects or CSV dicts; NaN and blanks mean no data."""
    from_objects = samples_from_rows([_Row(1.0, 10, 0.1, float("nan"))])
    from_csv = samples_from_rows([{"t": "1.0", "throughput": "10", "error_rate": "0.1", "p95_ms": ""}])
    assert from_objects == from_csv == [Sample(t=1.0, throughput=10, error_rate=0.1, p95_ms=None)]


def test_scenario_slo_overrides_the_defaults() -> None:
    """The SLO probes judge with the scenario's thresholds, defaults for the rest."""
    limits = Slo().merged({"p95_ms": 250, "throughput_min": 5})
    assert (limits.p95_ms, limits.throughput_min, limits.error_rate) == (250, 5, 0.001)


def _rows(rates: list[float], *, step: float = 0.25, throughput: float = 40) -> list[Sample]:
    return [Sample(t=100 + i * step, throughput=throughput, error_rate=r) for i, r in enumerate(rates)]


def test_breach_start_is_the_first_bucket_of_the_ongoing_run() -> None:
    """The breach starts where the current run of over-limit buckets starts."""
    rows = _rows([0.0, 0.95, 0.0, 0.95, 0.99, 1.0])
    assert breached_since(rows, error_rate=0.9, now=102, resolution_s=0.25) == 100.75


def test_no_breach_when_the_last_bucket_is_healthy() -> None:
    """A breach that ended is no breach."""
    assert breached_since(_rows([1.0, 1.0, 0.0]), error_rate=0.9, now=102, resolution_s=0.25) is None


def test_idle_buckets_neither_start_nor_break_a_breach() -> None:
    """Buckets without traffic are skipped."""
    rows = [*_rows([1.0]), Sample(t=100.25), *[Sample(t=100.5, throughput=10, error_rate=1.0)]]
    assert breached_since(rows, error_rate=0.9, now=102, resolution_s=0.25) == 100.0
