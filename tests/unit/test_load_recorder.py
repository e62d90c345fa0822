"""The event recorder and ledger file formats: round trips, torn tails, merge semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.load.events import MAGIC, RECORD, EventWriter, Kind, read_events
from resilience.load.message_ledger import LedgerWriter, read_ledger

pytestmark = pytest.mark.unit


def test_events_round_trip_across_files(tmp_path: Path) -> None:
    """Events from several writers (processes) come back merged and sorted by time, fields intact."""
    a = EventWriter(tmp_path, name="events-a.bin")
    b = EventWriter(tmp_path, name="events-b.bin")
    a.record(Kind.ACK, ok=True, value=12.5, t=100.2)
    b.record(Kind.WS_CONNECT, ok=False, status=503, value=3.0, t=100.1)
    a.record(Kind.WS_CLOSE, ok=False, status=1006, t=100.3)
    a.close()
    b.close()
    got = read_events(tmp_path)
    assert [(e.t, e.kind, e.ok, e.status, e.value) for e in got] == [
        (100.1, Kind.WS_CONNECT, False, 503, 3.0),
        (100.2, Kind.ACK, True, 0, 12.5),
        (100.3, Kind.WS_CLOSE, False, 1006, 0.0),
    ]


def test_events_torn_tail_is_ignored(tmp_path: Path) -> None:
    """A half-written last record (a killed writer) is dropped; the whole records before it are kept."""
    path = tmp_path / "events-x.bin"
    path.write_bytes(MAGIC + RECORD.pack(1.0, Kind.ACK, 1, 0, 5.0) + RECORD.pack(2.0, Kind.ACK, 1, 0, 6.0)[:7])
    assert [e.t for e in read_events(tmp_path)] == [1.0]


def test_events_bad_magic_is_refused(tmp_path: Path) -> None:
    """A file that is not an events file is reported by name rather than misread."""
    (tmp_path / "events-bad.bin").write_bytes(b"garbage!" + b"\0" * 16)
    with pytest.raises(ValueError, match=r"events-bad\.bin"):
        read_events(tmp_path)


def test_events_writer_buffers_until_flush(tmp_path: Path) -> None:
    """Records are buffered (compact writes) and reach the file on flush/close; 16 bytes each."""
    w = EventWriter(tmp_path, name="events-w.bin", flush_s=3600)
    for i in range(10):
        w.record(Kind.DELIVERY, value=float(i), t=float(i))
    assert w.path.stat().st_size == len(MAGIC)  # only the header, written at once
    w.close()
    assert w.path.stat().st_size == len(MAGIC) + 10 * RECORD.size
    w.close()  # idempotent


def test_ledger_merges_sends_outcomes_and_sessions(tmp_path: Path) -> None:
    """Sends get their acks/failures; no outcome means indeterminate; sessions gather received ids."""
    w = LedgerWriter(tmp_path, name="ledger-a.msgpack")
    w.sent("r1", "c1", "u1", "ws", t=1.0)
    w.sent("r1", "c2", "u1", "ws", t=1.1)
    w.sent("r1", "c3", "u1", "rest", t=1.2)
    w.acked("r1", "c1", 7, t=1.3)
    w.acked("r1", "c1", 7, t=1.4)  # a resend acknowledged again with the same id
    w.failed("r1", "c2", 429, t=1.5)
    w.joined("u1", "r1", 5, t=0.5)
    w.received("u1", "r1", [6, 7])
    w.received("u1", "r1", [8])
    w.left("u1", "r1", 8, t=2.0)
    w.close()
    ledger = read_ledger(tmp_path)
    c1, c2, c3 = (ledger.sends[("r1", c)] for c in ("c1", "c2", "c3"))
    assert (c1.acked, c1.ack_ids, c1.t_ack) == (True, [7], 1.3)
    assert (c2.acked, c2.failed_status, c2.indeterminate) == (False, 429, False)
    assert (c3.indeterminate, c3.via) == (True, "rest")
    session = ledger.sessions["u1"]
    assert (session.start_id, session.received, session.t_end, session.last_id) == (5, [6, 7, 8], 2.0, 8)
    assert ledger.rooms == {"r1"}
    assert ledger.t_last == 2.0


def test_ledger_torn_tail_keeps_whole_records(tmp_path: Path) -> None:
    """A ledger cut mid-record (writer killed) still yields every complete record before the cut."""
    w = LedgerWriter(tmp_path, name="ledger-a.msgpack")
    w.sent("r1", "c1", "u1", "ws", t=1.0)
    w.acked("r1", "c1", 3, t=1.1)
    w.close()
    data = w.path.read_bytes()
    w.path.write_bytes(data + data[:5])
    ledger = read_ledger(tmp_path)
    assert ledger.sends[("r1", "c1")].ack_ids == [3]


def test_events_file_being_created_reads_as_empty(tmp_path: Path) -> None:
    """A file whose header is not fully written yet (read during a run) reads as no events."""
    (tmp_path / "events-new.bin").write_bytes(MAGIC[:3])
    (tmp_path / "events-empty.bin").write_bytes(b"")
    assert read_events(tmp_path) == []
