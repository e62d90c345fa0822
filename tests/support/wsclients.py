"""Chat WebSocket clients that keep a room's stream whole across reconnects (asyncio, ``websockets``).

Each ``StreamClient`` behaves like a well-written chat client: on any close it reconnects at once with
``after=<last id>``, resends its unacknowledged sends with the same ``client_id`` and drops ids it has. It
records what the integration tests and benchmarks check: every message in arrival order (id, seq), every
ack with the replica that gave it and its send->ack time, the close codes, and the replica it is on now.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

__all__ = ["Ack", "StreamClient", "check_stream"]


@dataclass(frozen=True)
class Ack:
    client_id: str
    id: int
    seq: int
    replica: str
    ms: float
    """From the last (re)send to the ack."""
    at: float
    """time.time() of the ack."""


@dataclass
class StreamClient:
    """One socket of ``room`` through ``ws_url`` (``ws://host:port/ws``); ``run(stop)`` until ``stop`` is set."""

    ws_url: str
    token: str
    room: str
    name: str
    send_every_s: float | None = None
    """Send one message this often (None: only listen)."""
    paused: bool = False
    """Set: no new sends (unacknowledged ones are still resent after a reconnect)."""
    replica: str | None = None
    start_id: int | None = None
    """The room's last id when the client first joined: it must receive every message after it."""
    last_id: int = 0
    received: list[tuple[int, int]] = field(default_factory=list)
    duplicates: int = 0
    acks: list[Ack] = field(default_factory=list)
    closes: Counter[int] = field(default_factory=Counter)
    connects: int = 0
    pending: dict[str, float] = field(default_factory=dict)
    """Unacknowledged client ids -> time of their last (re)send."""
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def connected(self) -> bool:
        return self.replica is not None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            url = f"{self.ws_url}?room={self.room}&token={self.token}"
            if self.start_id is not None:
                url += f"&after={self.last_id}"
            try:
                async with connect(url, open_timeout=10, close_timeout=2, max_size=None) as ws:
                    await self._session(ws, stop)
            except ConnectionClosed as exc:
                self.closes[exc.rcvd.code if exc.rcvd is not None else 1006] += 1
            except (OSError, TimeoutError, InvalidHandshake, InvalidStatus):
                self.closes[0] += 1
                await asyncio.sleep(0.1)
            finally:
                self.replica = None

    async def _session(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "ready":
                break
            self._on_frame(frame)
        if self.start_id is None:
            self.start_id = int(frame["last_id"])
        self.last_id = max(self.last_id, int(frame["last_id"]))
        self.replica = str(frame.get("replica"))
        self.connects += 1
        for cid in list(self.pending):
            await self._send(ws, cid)
        sender = asyncio.create_task(self._sender(ws)) if self.send_every_s else None
        stopper = asyncio.create_task(stop.wait())
        try:
            while True:
                recv = asyncio.create_task(ws.recv())
                done, _ = await asyncio.wait({recv, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if recv not in done:
                    recv.cancel()
                    await ws.close()
                    return
                self._on_frame(json.loads(recv.result()))
        finally:
            for task in (sender, stopper):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await task

    async def _sender(self, ws: ClientConnection) -> None:
        assert self.send_every_s is not None
        while True:
            await asyncio.sleep(self.send_every_s)
            if not self.paused:
                await self._send(ws, f"{self.name}-{next(self._counter)}")

    async def _send(self, ws: ClientConnection, cid: str) -> None:
        self.pending[cid] = time.perf_counter()
        await ws.send(json.dumps({"type": "send", "client_id": cid, "body": "x"}))

    def _on_frame(self, frame: dict[str, object]) -> None:
        kind = frame.get("type")
        if kind == "message":
            mid, seq = int(frame["id"]), int(frame["seq"])  # type: ignore[call-overload]
            if mid <= self.last_id:
                self.duplicates += 1
                return
            self.received.append((mid, seq))
            self.last_id = mid
        elif kind == "ack":
            cid = str(frame["client_id"])
            sent = self.pending.pop(cid, None)
            if sent is not None:
                ms = (time.perf_counter() - sent) * 1000
                ack = Ack(cid, int(frame["id"]), int(frame["seq"]), self.replica or "?", ms, time.time())  # type: ignore[call-overload]
                self.acks.append(ack)


def check_stream(client: StreamClient, acked_in_room: set[int]) -> list[str]:
    """What is wrong with ``client``'s stream (empty: nothing): out of order or a gap in ``seq``, or an
    acknowledged message of its room after its first join that it never received."""
    problems = []
    seqs = [seq for _, seq in client.received]
    for before, after in itertools.pairwise(seqs):
        if after != before + 1:
            problems.append(f"{client.name}: seq {before} followed by {after}")
    got = {mid for mid, _ in client.received}
    missing = sorted(m for m in acked_in_room if m > (client.start_id or 0) and m not in got)
    if missing:
        problems.append(f"{client.name}: {len(missing)} acknowledged messages never delivered, e.g. {missing[:5]}")
    return problems
