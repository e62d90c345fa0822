"""Message integrity: compare what the load's users were told (the ledger) with what the database holds.

``evaluate(ledger, rows)`` is the pure core; ``check_integrity(ledger_dir, postgres_url)`` reads the
ledger files and the chat ``messages`` table and calls it. It reports:

* **lost** - acknowledged sends whose (room, client_id) has no row: the service said "committed" and
  the row is gone;
* **duplicated** - extra rows for one (room, client_id), and acknowledged sends whose row carries a
  different id than the ack (the message was stored again);
* **out_of_order** - per room, a message acknowledged before another was even sent but given a higher
  id (commit order broken: catch-up with ``after=<last id>`` could skip it);
* **delivery_out_of_order** - pushes a client received with a lower id after a higher one (a failure: a
  client that reconnects with ``after=<highest id seen>`` in between skips the lower id for good);
* **delivery_gaps** - messages of a client's room, after its join point and below the highest id it
  received, that it never received, by push or catch-up (a failure: the service skipped them);
* **delivery completeness** - for every user, the room's messages after its join point that were
  committed at least ``grace_s`` before it left (or, without commit times, up to the highest id it saw),
  and whether it received each of them, through pushes or catch-up.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from resilience.errors import ProbeError
from resilience.load.message_ledger import Ledger, Send, Session, read_ledger

__all__ = ["DbRow", "IntegrityReport", "check_integrity", "evaluate", "fetch_rows"]

MAX_LISTED = 1000
"""At most this many lost messages / violations are listed in the JSON (counts are always exact)."""


@dataclass(frozen=True, slots=True)
class DbRow:
    """One row of the chat ``messages`` table (the columns the checker needs)."""

    id: int
    room: str
    client_id: str
    ts: float | None = None
    """Commit time in epoch seconds, when known."""


@dataclass(frozen=True)
class IntegrityReport:
    """What the checker found; ``ok`` when nothing acknowledged was lost, duplicated or reordered, and every
    client received its room's messages in order without gaps."""

    sent: int
    acked: int
    failed: int
    indeterminate: int
    lost: int
    duplicated: int
    out_of_order: int
    commit_order_violations: int
    delivery_out_of_order: int
    id_mismatch: int
    indeterminate_stored: int
    failed_but_stored: int
    delivery_expected: int
    delivery_received: int
    redelivered: int
    delivery_gaps: int = 0
    lost_messages: tuple[tuple[str, str, int], ...] = field(default=())
    """(room, client_id, acknowledged id) of every lost message."""
    violations: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.out_of_order == 0
            and self.delivery_out_of_order == 0
            and self.delivery_gaps == 0
        )

    @property
    def lost_ids(self) -> list[int]:
        """Acknowledged ids of the lost messages."""
        return [msg_id for _, _, msg_id in self.lost_messages]

    @property
    def delivery_ratio(self) -> float | None:
        """Received / expected deliveries to connected users (None when nothing was expected)."""
        return self.delivery_received / self.delivery_expected if self.delivery_expected else None

    def to_json(self) -> dict[str, Any]:
        """The integrity object of run.json (acked, lost, duplicated, out_of_order first)."""
        return {
            "acked": self.acked,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "out_of_order": self.out_of_order,
            "ok": self.ok,
            "sent": self.sent,
            "failed": self.failed,
            "indeterminate": self.indeterminate,
            "indeterminate_stored": self.indeterminate_stored,
            "failed_but_stored": self.failed_but_stored,
            "id_mismatch": self.id_mismatch,
            "commit_order_violations": self.commit_order_violations,
            "delivery_out_of_order": self.delivery_out_of_order,
            "delivery_gaps": self.delivery_gaps,
            "delivery_ratio": self.delivery_ratio,
            "delivery_expected": self.delivery_expected,
            "delivery_received": self.delivery_received,
            "redelivered": self.redelivered,
            "lost_ids": self.lost_ids[:MAX_LISTED],
            "lost_messages": [{"room": r, "client_id": c, "id": i} for r, c, i in self.lost_messages[:MAX_LISTED]],
            "violations": list(self.violations[:MAX_LISTED]),
        }


@dataclass
class _Tally:
    lost: list[tuple[str, str, int]] = field(default_factory=list)
    duplicated: int = 0
    id_mismatch: int = 0
    indeterminate_stored: int = 0
    failed_but_stored: int = 0
    violations: list[str] = field(default_factory=list)


def _check_sends(sends: Iterable[Send], by_key: dict[tuple[str, str], list[DbRow]], tally: _Tally) -> None:
    for send in sends:
        rows = by_key.get((send.room, send.client_id), [])
        if len(rows) > 1:
            tally.duplicated += len(rows) - 1
            ids = [r.id for r in rows]
            tally.violations.append(f"duplicate: room {send.room} client_id {send.client_id} ids {ids}")
        if send.acked:
            if not rows:
                tally.lost.append((send.room, send.client_id, send.ack_ids[0]))
            elif len(send.ack_ids) > 1 or rows[0].id not in send.ack_ids:
                tally.id_mismatch += 1
                tally.violations.append(
                    f"id mismatch: room {send.room} client_id {send.client_id} acked {send.ack_ids} stored {rows[0].id}"
                )
        elif send.indeterminate:
            tally.indeterminate_stored += 1 if rows else 0
        elif rows:
            tally.failed_but_stored += 1


def _commit_order(sends: Iterable[Send], by_key: dict[tuple[str, str], list[DbRow]], tally: _Tally) -> int:
    """Per room: a message sent after another was acknowledged must get a higher id."""
    per_room: dict[str, list[tuple[float, float, int, str]]] = defaultdict(list)
    for send in sends:
        rows = by_key.get((send.room, send.client_id))
        if send.acked and rows and send.t_ack is not None:
            per_room[send.room].append((send.t_sent, send.t_ack, rows[0].id, send.client_id))
    violations = 0
    for room, items in per_room.items():
        by_ack = sorted(items, key=lambda x: x[1])
        j, max_id, max_cid = 0, -math.inf, ""
        for t_sent, _t_ack, msg_id, cid in sorted(items, key=lambda x: x[0]):
            while j < len(by_ack) and by_ack[j][1] < t_sent:
                if by_ack[j][2] > max_id:
                    max_id, max_cid = by_ack[j][2], by_ack[j][3]
                j += 1
            if max_id > msg_id:
                violations += 1
                tally.violations.append(
                    f"commit order: room {room}: {cid} got id {msg_id} after {max_cid} was acked with id {int(max_id)}"
                )
    return violations


@dataclass
class _Delivery:
    expected: int = 0
    received: int = 0
    out_of_order: int = 0
    redelivered: int = 0
    gaps: int = 0


def _deliveries(
    sessions: Iterable[Session],
    room_rows: dict[str, list[DbRow]],
    *,
    t_last: float,
    since: float | None,
    grace_s: float,
    tally: _Tally,
) -> _Delivery:
    out = _Delivery()
    for s in sessions:
        rows = room_rows.get(s.room, [])
        ids = [r.id for r in rows]
        seen: set[int] = set()
        high = -1
        for msg_id in s.received:
            if msg_id in seen:
                out.redelivered += 1
            elif msg_id < high:
                out.out_of_order += 1
                tally.violations.append(f"delivery order: {s.user} in {s.room} got id {msg_id} after {high}")
            seen.add(msg_id)
            high = max(high, msg_id)
        end = (s.t_end if s.t_end is not None else t_last) - grace_s
        first = bisect.bisect_right(ids, s.start_id)
        for row in rows[first:]:
            if since is not None and row.ts is not None and row.ts < since:
                continue
            if row.id < high and row.id not in seen:
                out.gaps += 1
                tally.violations.append(f"delivery gap: {s.user} in {s.room} never got id {row.id} below {high}")
            # committed grace_s before the user left (by commit time when known, else: it saw a later id)
            if row.ts <= end if row.ts is not None else row.id <= high:
                out.expected += 1
                out.received += 1 if row.id in seen else 0
    return out


def evaluate(
    ledger: Ledger, rows: Sequence[DbRow], *, since: float | None = None, grace_s: float = 5.0
) -> IntegrityReport:
    """Compare the ledger with the database rows of its rooms; ``since`` limits it to later sends."""
    sends = [s for s in ledger.sends.values() if since is None or s.t_sent >= since]
    by_key: dict[tuple[str, str], list[DbRow]] = defaultdict(list)
    room_rows: dict[str, list[DbRow]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.id):
        by_key[(row.room, row.client_id)].append(row)
        room_rows[row.room].append(row)
    tally = _Tally()
    _check_sends(sends, by_key, tally)
    commit = _commit_order(sends, by_key, tally)
    sessions = [s for s in ledger.sessions.values() if since is None or s.t_end is None or s.t_end >= since]
    dlv = _deliveries(sessions, room_rows, t_last=ledger.t_last, since=since, grace_s=grace_s, tally=tally)
    return IntegrityReport(
        sent=len(sends),
        acked=sum(1 for s in sends if s.acked),
        failed=sum(1 for s in sends if not s.acked and s.failed_status is not None),
        indeterminate=sum(1 for s in sends if s.indeterminate),
        lost=len(tally.lost),
        duplicated=tally.duplicated + tally.id_mismatch,
        out_of_order=commit,
        commit_order_violations=commit,
        delivery_out_of_order=dlv.out_of_order,
        id_mismatch=tally.id_mismatch,
        indeterminate_stored=tally.indeterminate_stored,
        failed_but_stored=tally.failed_but_stored,
        delivery_expected=dlv.expected,
        delivery_received=dlv.received,
        redelivered=dlv.redelivered,
        delivery_gaps=dlv.gaps,
        lost_messages=tuple(sorted(tally.lost)),
        violations=tuple(tally.violations),
    )


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fetch_rows(postgres_url: str, rooms: Iterable[str], *, timeout: float = 10.0) -> list[DbRow]:
    """Rows of ``messages`` in ``rooms`` (id, room, client_id, ts); ProbeError when the database fails."""
    room_list = sorted(set(rooms))
    if not room_list:
        return []
    try:
        with psycopg.connect(postgres_url, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            cur = conn.execute("SELECT id, room, client_id, ts FROM messages WHERE room = ANY(%s)", (room_list,))
            return [DbRow(int(i), str(r), str(c), _epoch(ts)) for i, r, c, ts in cur]
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ProbeError(f"integrity: cannot read messages from the database: {first}") from None


def check_integrity(
    ledger_dir: Path, postgres_url: str, *, since: float | None = None, grace_s: float = 5.0
) -> IntegrityReport:
    """Read the ledger in ``ledger_dir`` and the chat database at ``postgres_url``; report integrity."""
    if not ledger_dir.is_dir():
        raise ProbeError(f"integrity: no ledger directory {ledger_dir}")
    ledger = read_ledger(ledger_dir)
    return evaluate(ledger, fetch_rows(postgres_url, ledger.rooms), since=since, grace_s=grace_s)
