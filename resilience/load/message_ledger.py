"""The integrity ledger: what every simulated user sent, what was acknowledged, what it received.

Each load process appends msgpack arrays to its own ``ledger-<host>-<pid>.msgpack``:

* ``["S", t, room, client_id, user, via]`` a send left the client (``via`` is ``ws`` or ``rest``);
* ``["A", t, room, client_id, id]`` the server acknowledged it with message ``id`` (commit returned);
* ``["F", t, room, client_id, status]`` the server refused it (HTTP-like status);
* ``["J", t, user, room, start_id]`` a user joined ``room`` when its last message id was ``start_id``;
* ``["R", user, room, [id, ...]]`` message ids the user received (pushes and catch-up), in order;
* ``["E", t, user, room, last_id]`` the user left (stopped).

A send with neither ``A`` nor ``F`` is indeterminate (timed out, connection lost, process killed).
Reading is tolerant of a torn tail (a crashed writer). Imported by both sides; imports only msgpack.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from resilience.load._appender import Appender

__all__ = ["Ledger", "LedgerWriter", "Send", "Session", "read_ledger"]


class LedgerWriter(Appender):
    """Appends ledger records for this process; buffered and flushed every ``flush_s``."""

    def __init__(self, ledger_dir: Path, *, flush_s: float = 1.0, name: str | None = None) -> None:
        super().__init__(ledger_dir, "ledger", ".msgpack", flush_s=flush_s, name=name)
        self._packer = msgpack.Packer()

    def _add(self, record: list[Any]) -> None:
        self._append(self._packer.pack(record))

    def sent(self, room: str, client_id: str, user: str, via: str, t: float | None = None) -> None:
        """A send left the client (first attempt)."""
        self._add(["S", time.time() if t is None else t, room, client_id, user, via])

    def acked(self, room: str, client_id: str, msg_id: int, t: float | None = None) -> None:
        """The server acknowledged the send with message id ``msg_id``."""
        self._add(["A", time.time() if t is None else t, room, client_id, msg_id])

    def failed(self, room: str, client_id: str, status: int, t: float | None = None) -> None:
        """The server refused the send."""
        self._add(["F", time.time() if t is None else t, room, client_id, status])

    def joined(self, user: str, room: str, start_id: int, t: float | None = None) -> None:
        """The user's first ``ready``: it is in the room from message ``start_id`` on."""
        self._add(["J", time.time() if t is None else t, user, room, start_id])

    def received(self, user: str, room: str, ids: list[int]) -> None:
        """A batch of message ids the user received, in arrival order."""
        if ids:
            self._add(["R", user, room, list(ids)])

    def left(self, user: str, room: str, last_id: int, t: float | None = None) -> None:
        """The user stopped."""
        self._add(["E", time.time() if t is None else t, user, room, last_id])


@dataclass
class Send:
    """One message a user tried to send, identified by (room, client_id)."""

    room: str
    client_id: str
    user: str
    via: str
    t_sent: float
    ack_ids: list[int] = field(default_factory=list)
    """Every id the server acknowledged this send with (more than one distinct id is an anomaly)."""
    t_ack: float | None = None
    failed_status: int | None = None

    @property
    def acked(self) -> bool:
        return bool(self.ack_ids)

    @property
    def indeterminate(self) -> bool:
        return not self.ack_ids and self.failed_status is None


@dataclass
class Session:
    """One user's membership of a room: from ``start_id`` (exclusive) to when it left."""

    user: str
    room: str
    t_join: float
    start_id: int
    t_end: float | None = None
    last_id: int | None = None
    received: list[int] = field(default_factory=list)


@dataclass
class Ledger:
    """Everything the load processes wrote, merged."""

    sends: dict[tuple[str, str], Send] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    t_last: float = 0.0
    """Latest timestamp in any record (stands in for a session end when its writer died)."""

    @property
    def rooms(self) -> set[str]:
        return {room for room, _ in self.sends} | {s.room for s in self.sessions.values()}


def _iter_records(path: Path) -> Iterator[list[Any]]:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(path.read_bytes())
    try:
        for record in unpacker:
            if isinstance(record, list) and record:
                yield record
    except (ValueError, msgpack.UnpackException):  # torn tail of a killed writer
        return


def _apply(ledger: Ledger, rec: list[Any]) -> None:
    tag = rec[0]
    if tag == "S":
        _, t, room, cid, user, via = rec
        ledger.sends.setdefault((room, cid), Send(room, cid, user, via, t))
        ledger.t_last = max(ledger.t_last, t)
        return
    if tag == "A":
        _, t, room, cid, msg_id = rec
        send = ledger.sends.get((room, cid))
        if send is not None:
            if msg_id not in send.ack_ids:
                send.ack_ids.append(msg_id)
            send.t_ack = t if send.t_ack is None else min(send.t_ack, t)
        ledger.t_last = max(ledger.t_last, t)
        return
    if tag == "F":
        _, t, room, cid, status = rec
        if (send := ledger.sends.get((room, cid))) is not None:
            send.failed_status = status
        ledger.t_last = max(ledger.t_last, t)
        return
    if tag == "J":
        _, t, user, room, start_id = rec
        ledger.sessions.setdefault(user, Session(user, room, t, start_id))
        ledger.t_last = max(ledger.t_last, t)
        return
    if tag == "R":
        _, user, _room, ids = rec
        if (session := ledger.sessions.get(user)) is not None:
            session.received.extend(ids)
        return
    if tag == "E":
        _, t, user, _room, last_id = rec
        if (session := ledger.sessions.get(user)) is not None:
            session.t_end, session.last_id = t, last_id
        ledger.t_last = max(ledger.t_last, t)


def read_ledger(ledger_dir: Path) -> Ledger:
    """Merge every ledger file in the directory (sends before their outcomes within each file)."""
    ledger = Ledger()
    files = sorted(ledger_dir.glob("ledger-*.msgpack"))
    records = [rec for path in files for rec in _iter_records(path)]
    # outcomes and receipts may come from another process's file than the send or join (REST vs WS
    # are in one process, but be safe): apply S and J first, then the rest in file order
    for rec in records:
        if rec[0] in ("S", "J"):
            _apply(ledger, rec)
    for rec in records:
        if rec[0] not in ("S", "J"):
            _apply(ledger, rec)
    return ledger
