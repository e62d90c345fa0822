"""Chat users for deploy tests: each a thread with one WebSocket that sends and receives, the way the load's
users behave (resilience/load/chatclient.py, which runs under gevent and cannot run in pytest's process).

    WsUser ──ws://haproxy/ws?room=R&after=<highest id seen>──► a chat replica
        every ``every_s``: send {client_id, body}; each ack settles its send
        closed with 1012 (a replica draining): reconnect at once; sends due meanwhile wait in the outbox and
        go, with every unacknowledged one, once the new connection is ``ready`` (same client id: deduplicated)
        anything else (another close code, a failed connect, an error frame, a send never acknowledged) is a
        failure the user records

``check_delivery`` compares what each user received with the room's rows: every message after the user's join
point up to the last one acknowledged in the room, in id order, none missing.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection

from tests.integration.chat.wsclient import open_ws

__all__ = ["WsUser", "check_delivery", "settle"]

SERVICE_RESTART = 1012


@dataclass
class _Outcome:
    """What one user saw: join point, ids received (in arrival order), acks, and every failure."""

    join: int | None = None
    received: list[int] = field(default_factory=list)
    connections: list[tuple[int, int | None, int]] = field(default_factory=list)
    """Per connection: the index in ``received`` of its first message, its ``after=``, its ``ready`` last id."""
    acked: dict[str, int] = field(default_factory=dict)
    closes: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    sent: int = 0


class WsUser(threading.Thread):
    """One user in ``room`` on the chat service at ``ws_base`` (``ws://host:port/ws``), sending every ``every_s``."""

    def __init__(self, ws_base: str, token: str, room: str, name: str, *, every_s: float = 0.04) -> None:
        super().__init__(name=name, daemon=True)
        self.ws_base, self.token, self.room, self.every_s = ws_base, token, room, every_s
        self.out = _Outcome()
        self.pending: dict[str, tuple[float, str]] = {}
        self._sending = threading.Event()
        self._sending.set()
        self._halt = threading.Event()
        self._last: int | None = None
        self._last_frames = ""

    # -- the thread --------------------------------------------------------------------------------
    def run(self) -> None:
        next_send = time.monotonic()
        while not self._halt.is_set():
            try:
                ws = open_ws(self.ws_base, self.token, self.room, after=self._last)
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.out.failures.append(f"connect failed: {exc!r}")
                next_send = self._outbox_until(time.monotonic() + 0.1, next_send, failing=True)
                continue
            code = self._session(ws, next_send)
            if code is None:
                return
            next_send = time.monotonic()
            if code != SERVICE_RESTART:
                self.out.failures.append(f"{time.time():.3f} connection closed with {code} ({self._last_frames})")

    def _session(self, ws: ClientConnection, next_send: float) -> int | None:
        """Serve one connection until it closes (its close code) or the user stops (None)."""
        with ws:
            try:
                self._until_ready(ws)
                for _sent_at, frame in sorted(self.pending.values()):
                    ws.send(frame)  # the outbox and every send without an ack, same client ids
                while not self._halt.is_set():
                    now = time.monotonic()
                    if self._sending.is_set() and now >= next_send:
                        self._send(ws)
                        next_send += self.every_s
                    with contextlib.suppress(TimeoutError):
                        self._handle(json.loads(ws.recv(timeout=max(0.001, next_send - time.monotonic()))))
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                self._last_frames = f"{exc!r} sent={exc.sent!r}"
                self.out.closes.append(code)
                return code
            except OSError as exc:
                self.out.closes.append(1006)
                self.out.failures.append(f"connection lost: {exc!r}")
                return 1006
        return None

    def _until_ready(self, ws: ClientConnection) -> None:
        first, after = len(self.out.received), self._last
        while True:
            frame = json.loads(ws.recv(timeout=10))
            if frame["type"] == "ready":
                last = int(frame["last_id"])
                self.out.connections.append((first, after, last))
                if self.out.join is None:
                    self.out.join = last
                self._last = max(self._last or 0, last)
                return
            self._handle(frame)

    def _outbox_until(self, until: float, next_send: float, *, failing: bool) -> float:
        """No connection until ``until``: sends due meanwhile fail (``failing``) or wait in the outbox."""
        while time.monotonic() < until and not self._halt.is_set():
            if self._sending.is_set() and time.monotonic() >= next_send:
                if failing:
                    self.out.failures.append("send while not connected")
                next_send += self.every_s
            time.sleep(0.005)
        return next_send

    def _send(self, ws: ClientConnection) -> None:
        cid = uuid.uuid4().hex
        frame = json.dumps({"type": "send", "client_id": cid, "body": f"{self.name} {time.time():.6f}"})
        self.pending[cid] = (time.monotonic(), frame)
        self.out.sent += 1
        ws.send(frame)

    def _handle(self, frame: dict[str, object]) -> None:
        kind = frame.get("type")
        if kind == "message":
            msg_id = int(str(frame["id"]))
            self.out.received.append(msg_id)
            self._last = max(self._last or 0, msg_id)
        elif kind == "ack":
            cid = str(frame["client_id"])
            if self.pending.pop(cid, None) is not None:
                self.out.acked[cid] = int(str(frame["id"]))
        elif kind == "error":
            self.pending.pop(str(frame.get("client_id")), None)
            self.out.failures.append(f"send refused: {frame.get('status')} {frame.get('error')}")

    # -- control (test thread) ---------------------------------------------------------------------
    def stop_sending(self) -> None:
        self._sending.clear()

    def seen(self) -> int:
        return max(self.out.received, default=0)

    def finish(self, timeout: float = 10.0) -> None:
        """Stop and join; every send still without an ack is a failure."""
        self._halt.set()
        self.join(timeout)
        for cid in self.pending:
            self.out.failures.append(f"send {cid} never acknowledged")


def settle(users: Sequence[WsUser], timeout: float = 20.0) -> dict[str, int]:
    """Stop the users' sends, wait (at most ``timeout``) until every send is acknowledged and every user got its
    room's last acknowledged message, stop them; the last acknowledged id per room."""
    for user in users:
        user.stop_sending()

    def last_acked() -> dict[str, int]:
        rooms: dict[str, int] = {}
        for u in users:
            rooms[u.room] = max(rooms.get(u.room, 0), max(u.out.acked.values(), default=0))
        return rooms

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rooms = last_acked()
        if not any(u.pending for u in users) and all(u.seen() >= rooms[u.room] for u in users):
            break
        time.sleep(0.1)
    for user in users:
        user.finish()
    return last_acked()


def check_delivery(users: Iterable[WsUser], rows: Mapping[str, Sequence[int]]) -> list[str]:
    """Every user got each id of its room's ``rows`` after its join point and up to the highest it received,
    in id order; the problems found (a gap, an id below one already received)."""
    problems: list[str] = []
    for user in users:
        got: list[int] = []
        seen: set[int] = set()
        for i, msg_id in enumerate(user.out.received):
            if msg_id in seen:
                continue
            if got and msg_id < got[-1]:
                problems.append(f"{user.name}: got id {msg_id} after {got[-1]} ({_where(user, i)})")
            got.append(msg_id)
            seen.add(msg_id)
        high = max(got, default=0)
        missing = [i for i in rows[user.room] if (user.out.join or 0) < i <= high and i not in seen]
        if missing:
            problems.append(f"{user.name}: never got {len(missing)} id(s) {missing[:5]} below {high}")
    return problems


def _where(user: WsUser, index: int) -> str:
    """Which connection delivered ``received[index]``: its number, ``after=`` and ``ready`` last id."""
    conns = [c for c in user.out.connections if c[0] <= index]
    if not conns:
        return "before the first ready"
    first, after, ready = conns[-1]
    return f"connection {len(conns)} of {len(user.out.connections)}, after={after}, ready at {ready}, #{index - first}"
