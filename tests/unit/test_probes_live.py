"""The live event tail reads only what was appended, and buckets records into SLO samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.analysis.samples import samples_of
from resilience.load.events import EventTail, EventWriter, Kind

pytestmark = pytest.mark.unit


def test_tail_returns_each_record_once(tmp_path: Path) -> None:
    """A second poll returns only the records written since the first one, across files."""
    a = EventWriter(tmp_path, name="events-a.bin")
    b = EventWriter(tmp_path, name="events-b.bin")
    a.record(Kind.ACK, t=1.0, value=5.0)
    a.flush()
    tail = EventTail(tmp_path)
    assert [r[0] for r in tail.poll()] == [1.0]
    a.record(Kind.ACK, t=2.0, value=5.0)
    b.record(Kind.REST_SEND, ok=False, status=503, t=3.0)
    a.flush()
    b.flush()
    assert sorted(r[0] for r in tail.poll()) == [2.0, 3.0]
    assert tail.poll() == []
    a.close()
    b.close()


def test_torn_record_waits_for_the_next_poll(tmp_path: Path) -> None:
    """Half a record at the end of a file is left for later, not misread."""
    w = EventWriter(tmp_path, name="events-a.bin")
    w.record(Kind.ACK, t=1.0, value=5.0)
    w.close()
    path = tmp_path / "events-a.bin"
    whole = path.read_bytes()
    path.write_bytes(whole[:-4])
    tail = EventTail(tmp_path)
    assert tail.poll() == []
    path.write_bytes(whole)
    assert [r[0] for r in tail.poll()] == [1.0]


def test_samples_of_buckets_requests_errors_latency_and_connects() -> None:
    """Requests, errors, p95 and WebSocket connect success per bucket; other kinds are not requests."""
    records = [
        (10.1, int(Kind.ACK), 1, 0, 10.0),
        (10.2, int(Kind.ACK), 1, 0, 30.0),
        (10.3, int(Kind.REST_SEND), 0, 503, 5.0),
        (10.4, int(Kind.WS_CONNECT), 0, 0, 1.0),
        (10.5, int(Kind.DELIVERY), 1, 0, 99.0),
        (11.5, int(Kind.WS_CONNECT), 1, 0, 1.0),
    ]
    first, second = samples_of(records, start=10.0, end=12.0, resolution_s=1.0)
    assert (first.throughput, round(first.error_rate, 3), first.p95_ms, first.connect_success) == (
        3.0,
        0.333,
        30.0,
        0.0,
    )
    assert (second.throughput, second.p95_ms, second.connect_success) == (0.0, None, 1.0)
