"""Requests attributed to the moment they were issued: the verdict measures recovery at the service, the
completion-time figures stay available, and requests in flight show on the timeline."""

from __future__ import annotations

import numpy as np
import pytest

from resilience.analysis.samples import samples_from_rows
from resilience.analysis.timeline import DTYPE, start_times, timeline_from_events
from resilience.load.events import Kind, Raw
from resilience.runner.results import experiment_result
from resilience.slo import Slo

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0
ACK_TIMEOUT_MS = 10_000.0


def test_ack_timeout_belongs_to_its_send() -> None:
    """A send issued at 2 s whose 10 s ack timeout fired at 12 s is a failure of the 2 s bucket by start,
    of the 12 s bucket by completion; a connect and a delivery move back by their latency, a reconnect's
    backoff does not move it."""
    records: list[Raw] = [
        (T0 + 12.0, Kind.ACK, 0, 0, ACK_TIMEOUT_MS),
        (T0 + 13.0, Kind.ACK, 1, 0, 500.0),
        (T0 + 14.0, Kind.RECONNECT, 1, 0, 3000.0),
    ]
    by_start = timeline_from_events(records, resolution_s=1.0, start=T0, end=T0 + 15, by="start").rows
    by_done = timeline_from_events(records, resolution_s=1.0, start=T0, end=T0 + 15).rows
    assert by_start[2]["errors"] == 1 and by_start[12]["requests"] == 1 and by_start[12]["errors"] == 0
    assert by_done[12]["errors"] == 1 and by_done[2]["requests"] == 0
    assert by_start[14]["reconnects"] == 1
    got = start_times(np.array([(T0 + 5, Kind.WS_CONNECT, 0, 0, 5000.0), (T0 + 5, Kind.WS_CLOSE, 1, 0, 9.0)], DTYPE))
    assert got.tolist() == [T0, T0 + 5]


def test_in_flight_counts_requests_issued_and_not_answered() -> None:
    """A send issued at 1.5 s and answered at 4.5 s is in flight at the ends of buckets 1, 2 and 3 only."""
    records: list[Raw] = [(T0 + 4.5, Kind.ACK, 1, 0, 3000.0), (T0 + 0.2, Kind.REST_SEND, 1, 201, 100.0)]
    rows = timeline_from_events(records, resolution_s=1.0, start=T0, end=T0 + 6, exact=True, by="start").rows
    assert [r["in_flight"] for r in rows] == [0, 1, 1, 1, 0, 0]


def _partition(fault_start: float, fault_end: float, rate: int = 10) -> list[Raw]:
    """Sends at ``rate``/s for 60 s: those issued during the partition time out 10 s later (the client
    then reconnects and its resend succeeds, not reported again); the others are acked in 20 ms."""
    out: list[Raw] = []
    for i in range(60 * rate):
        issued = T0 + i / rate
        if fault_start <= issued < fault_end:
            out.append((issued + ACK_TIMEOUT_MS / 1000, Kind.ACK, 0, 0, ACK_TIMEOUT_MS))
        else:
            out.append((issued + 0.02, Kind.ACK, 1, 0, 20.0))
    return out


def test_partition_recovers_at_its_end_by_start_and_ten_seconds_later_by_completion() -> None:
    """An 8 s partition: counted when issued, recovery is the partition's end (8 s after the fault);
    counted at completion (the client's give-up time) it is ~10 s later, and the entry keeps both."""
    start, end = T0 + 20, T0 + 28
    records = _partition(start, end)
    window = {"resolution_s": 1.0, "start": T0, "end": T0 + 60}
    entry = experiment_result(
        name="network-partition",
        file="experiments/network-partition.yaml",
        journal={"status": "completed", "steady_states": {}},
        records={"faults": [{"event": "start", "t": start}, {"event": "end", "t": end}], "markers": []},
        samples=samples_from_rows(timeline_from_events(records, by="start", **window).rows),
        samples_by_completion=samples_from_rows(timeline_from_events(records, **window).rows),
        resolution_s=1.0,
        slo=Slo(),
        slo_json=Slo().to_json(),
        stabilisation_s=5,
        recovery_target_s=30,
        started=T0,
        ended=T0 + 60,
        integrity=None,
        interrupted_by=None,
    )
    assert entry["detect_s"] == 1.0
    assert entry["recovery_s"] == 8.0
    assert entry["by_completion"]["recovery_s"] == 18.0
