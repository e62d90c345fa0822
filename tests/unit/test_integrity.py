"""The integrity checker's pure core on synthetic ledgers and database rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.analysis.integrity import DbRow, evaluate
from resilience.load.message_ledger import Ledger, LedgerWriter, read_ledger

pytestmark = pytest.mark.unit


def _ledger(tmp_path: Path, n: int = 10, room: str = "r1") -> Ledger:
    """n WS sends in one room, each acked with id i+1 half a second after being sent, one user receiving all."""
    w = LedgerWriter(tmp_path, name="ledger-1.msgpack")
    w.joined("u1", room, 0, t=0.0)
    for i in range(n):
        w.sent(room, f"c{i}", "u1", "ws", t=10.0 + i)
        w.acked(room, f"c{i}", i + 1, t=10.5 + i)
    w.received("u1", room, list(range(1, n + 1)))
    w.left("u1", room, n, t=100.0)
    w.close()
    return read_ledger(tmp_path)


def _rows(n: int = 10, room: str = "r1") -> list[DbRow]:
    return [DbRow(i + 1, room, f"c{i}", 10.4 + i) for i in range(n)]


def test_clean_run_is_ok(tmp_path: Path) -> None:
    """Everything acked is stored once, in order, and delivered: the report is ok with full delivery."""
    report = evaluate(_ledger(tmp_path), _rows())
    assert (report.sent, report.acked, report.lost, report.duplicated, report.out_of_order) == (10, 10, 0, 0, 0)
    assert report.ok
    assert report.delivery_ratio == 1.0
    assert report.to_json()["acked"] == 10


def test_deleted_rows_are_reported_exactly(tmp_path: Path) -> None:
    """Rows missing behind the service's back are reported as lost, with exactly their ids."""
    rows = [r for r in _rows() if r.id not in (3, 7)]
    report = evaluate(_ledger(tmp_path), rows)
    assert report.lost == 2
    assert report.lost_ids == [3, 7]
    assert {m[1] for m in report.lost_messages} == {"c2", "c6"}
    assert not report.ok


def test_duplicate_rows_and_changed_ids(tmp_path: Path) -> None:
    """A second row for one client id, or a stored id differing from the ack, counts as duplicated."""
    rows = [*_rows(), DbRow(11, "r1", "c4", 30.0)]
    rows[8] = DbRow(42, "r1", "c8", 18.4)  # stored again under another id
    report = evaluate(_ledger(tmp_path), rows)
    assert report.id_mismatch == 1
    assert report.duplicated == 2
    assert not report.ok


def test_commit_order_violation(tmp_path: Path) -> None:
    """A message sent after another was acknowledged but given a lower id breaks per-room order."""
    w = LedgerWriter(tmp_path, name="ledger-1.msgpack")
    w.sent("r1", "a", "u1", "ws", t=1.0)
    w.acked("r1", "a", 5, t=1.1)
    w.sent("r1", "b", "u2", "ws", t=2.0)  # sent after a's ack
    w.acked("r1", "b", 4, t=2.1)
    w.sent("r1", "c", "u3", "ws", t=1.05)  # concurrent with a: any order is fine
    w.acked("r1", "c", 3, t=1.2)
    w.close()
    report = evaluate(read_ledger(tmp_path), [DbRow(5, "r1", "a"), DbRow(4, "r1", "b"), DbRow(3, "r1", "c")])
    assert report.commit_order_violations == 1
    assert report.out_of_order == 1
    assert "b got id 4 after a was acked with id 5" in report.violations[0]


def test_delivery_gaps_reorders_and_redeliveries(tmp_path: Path) -> None:
    """A user missing a message it should have seen lowers delivery; lower-after-higher is out of order."""
    w = LedgerWriter(tmp_path, name="ledger-1.msgpack")
    w.joined("u1", "r1", 2, t=0.0)  # joined after message 2
    w.received("u1", "r1", [3, 5, 4, 5, 6])  # 4 after 5: out of order; second 5: redelivered
    w.joined("u2", "r1", 0, t=0.0)
    w.received("u2", "r1", [1, 2, 4])  # missed 3; 5 and 6 came after its last seen, but see below
    w.left("u2", "r1", 4, t=12.0)  # left at 12 s: 5 (ts 10) was due, 6 (ts 11.5) within the grace
    w.left("u1", "r1", 6, t=20.0)
    w.close()
    rows = [DbRow(i, "r1", f"c{i}", 5.0 + i) for i in range(1, 7)]
    rows[5] = DbRow(6, "r1", "c6", 11.5)
    report = evaluate(read_ledger(tmp_path), rows, grace_s=2.0)
    assert report.delivery_out_of_order == 1
    assert report.out_of_order == 0  # push order alone is not a per-room (commit) order violation
    assert report.redelivered == 1
    assert report.delivery_gaps == 1  # u2 got 4 but never 3
    # u1 expects 3,4,5,6 (all received); u2 expects 1..5 (got 1,2,4)
    assert (report.delivery_expected, report.delivery_received) == (9, 7)
    assert not report.ok  # a push out of order and a gap below a received id are failures
    assert "delivery gap: u2 in r1 never got id 3 below 4" in report.violations


def test_seeded_reorder_is_reported_exactly(tmp_path: Path) -> None:
    """Pushes swapped in pairs at seeded positions are counted exactly, one per swap, and fail the check;
    with no swap the same ledger is clean."""
    seeded = {7, 21, 40, 63}
    order = list(range(1, 81))
    for at in seeded:
        order[at - 1], order[at] = order[at], order[at - 1]
    w = LedgerWriter(tmp_path, name="ledger-1.msgpack")
    w.joined("u1", "r1", 0, t=0.0)
    w.received("u1", "r1", order)
    w.left("u1", "r1", 80, t=500.0)
    w.close()
    rows = [DbRow(i, "r1", f"c{i}", 1.0 + i) for i in range(1, 81)]
    report = evaluate(read_ledger(tmp_path), rows)
    assert report.delivery_out_of_order == len(seeded)
    assert (report.delivery_gaps, report.lost, report.redelivered) == (0, 0, 0)
    assert not report.ok and report.to_json()["delivery_out_of_order"] == len(seeded)


def test_indeterminate_and_failed_sends(tmp_path: Path) -> None:
    """Sends without an outcome are indeterminate (stored or not); refused sends found stored are flagged."""
    w = LedgerWriter(tmp_path, name="ledger-1.msgpack")
    w.sent("r1", "i1", "u1", "ws", t=1.0)
    w.sent("r1", "i2", "u1", "ws", t=1.0)
    w.sent("r1", "f1", "u1", "rest", t=1.0)
    w.failed("r1", "f1", 503, t=1.1)
    w.close()
    report = evaluate(read_ledger(tmp_path), [DbRow(1, "r1", "i1"), DbRow(2, "r1", "f1")])
    assert (report.indeterminate, report.indeterminate_stored) == (2, 1)
    assert (report.failed, report.failed_but_stored) == (1, 1)
    assert report.ok  # nothing acknowledged was lost


def test_since_limits_to_later_sends(tmp_path: Path) -> None:
    """With since, only sends from then on are checked (a loss before it is out of scope)."""
    rows = [r for r in _rows() if r.id != 2]  # c1, sent at t=11, is lost
    assert evaluate(_ledger(tmp_path), rows, since=15.0).lost == 0
    assert evaluate(read_ledger(tmp_path), rows, since=11.0).lost == 1
