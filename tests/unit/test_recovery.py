"""Recovery analysis on synthetic timelines: time to detect, recovery time, error budget, peaks."""

from __future__ import annotations

import pytest

from resilience.analysis.recovery import (
    Sample,
    analyse_recovery,
    holds,
    peak,
    summarise,
    violations,
)
from resilience.slo import Slo

pytestmark = pytest.mark.unit

SLO = Slo(p95_ms=100, error_rate=0.01, ws_connect_success=0.99)
T0 = 1_000.0


def _timeline(bad: set[int], n: int = 30, *, p95: float = 20.0) -> list[Sample]:
    """One-second buckets from T0; buckets in ``bad`` have half their requests failing."""
    return [Sample(t=T0 + i, throughput=50, error_rate=0.5 if i in bad else 0.0, p95_ms=p95) for i in range(n)]


def test_each_objective_can_break() -> None:
    """p95, p99, error rate, WebSocket connect success and the throughput floor are each judged."""
    slo = Slo(p95_ms=100, error_rate=0.01, p99_ms=200, ws_connect_success=0.99, throughput_min=10)
    sample = Sample(t=0, throughput=5, error_rate=0.02, p95_ms=150, p99_ms=300, connect_success=0.5)
    assert violations(sample, slo) == ["p95_ms", "p99_ms", "error_rate", "ws_connect_success", "throughput_min"]


def test_no_data_holds() -> None:
    """A bucket without requests or connects breaks no objective (unless a throughput floor is set)."""
    assert holds(Sample(t=0), SLO)
    assert not holds(Sample(t=0), Slo(p95_ms=100, error_rate=0.01, throughput_min=1))


def test_detect_and_recover() -> None:
    """Fault at T0+5, errors in buckets 6-9: detected at the end of bucket 6, recovered at the end of bucket 9."""
    rec = analyse_recovery(_timeline({6, 7, 8, 9}), SLO, fault_start=T0 + 5, stabilisation_s=5, resolution_s=1)
    assert rec.detect_s == 2.0
    assert rec.recovery_s == 5.0
    assert rec.recovered_at == T0 + 10


def test_blip_within_the_stabilisation_window_restarts_the_clock() -> None:
    """The SLO must hold *continuously* for the window: a violation inside it restarts the clock."""
    rec = analyse_recovery(_timeline({6, 7, 10}), SLO, fault_start=T0 + 5, stabilisation_s=5, resolution_s=1)
    assert rec.recovery_s == 6.0


def test_blip_after_a_reached_recovery_does_not_undo_it() -> None:
    """Once the SLO held for the whole window, a later blip does not move the recovery."""
    rec = analyse_recovery(_timeline({6, 7, 20}), SLO, fault_start=T0 + 5, stabilisation_s=5, resolution_s=1)
    assert rec.recovery_s == 3.0


def test_recovery_waits_for_the_fault_to_be_removed() -> None:
    """A quiet spell while the fault is still on is no recovery: the window starts at the fault end at the earliest."""
    rows = _timeline({6, 7, 14})
    rec = analyse_recovery(rows, SLO, fault_start=T0 + 5, fault_end=T0 + 15, stabilisation_s=3, resolution_s=1)
    assert rec.recovery_s == 10.0


def test_no_violation_recovers_at_fault_start() -> None:
    """A fault the SLO never noticed has no detection and zero recovery time."""
    rec = analyse_recovery(_timeline(set()), SLO, fault_start=T0 + 5, stabilisation_s=5, resolution_s=1)
    assert rec.detect_s is None
    assert rec.recovery_s == 0.0


def test_a_breach_after_the_slo_rode_through_the_fault_is_not_its_detection() -> None:
    """A kill the SLO held through for the whole window, then a breach in the last bucket observed: recovered at
    the fault start, nothing detected (the breach is no detection of this fault, and no run can follow it)."""
    rec = analyse_recovery(_timeline({12}, n=13), SLO, fault_start=T0 + 5, stabilisation_s=5, resolution_s=1)
    assert rec.detect_s is None
    assert rec.recovery_s == 0.0


def test_a_fault_still_on_after_the_window_is_detected_when_it_breaks_later() -> None:
    """The same timeline with the fault on until T0+15: the breach at T0+12 comes while it is on, so it is the
    fault's detection, and no stable run follows it inside the observation."""
    rec = analyse_recovery(
        _timeline({12}, n=13), SLO, fault_start=T0 + 5, fault_end=T0 + 15, stabilisation_s=5, resolution_s=1
    )
    assert rec.detect_s == 8.0
    assert rec.recovery_s is None


def test_not_recovered_without_a_full_stabilisation_window() -> None:
    """If the data ends before the SLO held for the stabilisation window, recovery is None."""
    rec = analyse_recovery(
        _timeline({6, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27}, n=30),
        SLO,
        fault_start=T0 + 5,
        stabilisation_s=5,
        resolution_s=1,
    )
    assert rec.recovery_s is None
    assert rec.detect_s == 2.0


def test_violations_before_the_fault_are_ignored() -> None:
    """Only buckets overlapping the fault window and later count."""
    rec = analyse_recovery(_timeline({1, 2}), SLO, fault_start=T0 + 5, stabilisation_s=5, resolution_s=1)
    assert rec.detect_s is None


def test_end_limits_the_observation() -> None:
    """Buckets at or after ``end`` are not looked at."""
    rec = analyse_recovery(_timeline({6}), SLO, fault_start=T0 + 5, stabilisation_s=5, resolution_s=1, end=T0 + 11)
    assert rec.recovery_s is None


def test_latency_breach() -> None:
    """A p95 above the bound counts like errors do."""
    rows = [Sample(t=T0 + i, throughput=50, p95_ms=250 if 3 <= i < 8 else 20) for i in range(20)]
    rec = analyse_recovery(rows, SLO, fault_start=T0 + 3, stabilisation_s=3, resolution_s=1)
    assert (rec.detect_s, rec.recovery_s) == (1.0, 5.0)


def test_sub_second_resolution() -> None:
    """At 0.1 s buckets the figures have 0.1 s resolution."""
    rows = [Sample(t=T0 + i / 10, throughput=100, error_rate=1.0 if 12 <= i < 17 else 0.0) for i in range(100)]
    rec = analyse_recovery(rows, SLO, fault_start=T0 + 1.0, stabilisation_s=2, resolution_s=0.1)
    assert rec.detect_s == pytest.approx(0.3)
    assert rec.recovery_s == pytest.approx(0.7)


def test_peak_and_summary() -> None:
    """Peak p95 and the window summary see only the window."""
    rows = [Sample(t=T0 + i, throughput=10, p95_ms=float(i)) for i in range(10)]
    assert peak(rows, "p95_ms", resolution_s=1, start=T0 + 2, end=T0 + 5) == 4.0
    summary = summarise(rows, Slo(p95_ms=3, error_rate=0.1), resolution_s=1, start=T0, end=T0 + 10)
    assert summary["requests"] == 100
    assert summary["holds"] is False
    assert summary["violated"] == ["p95_ms"]
    assert peak([], "p95_ms", resolution_s=1) is None
