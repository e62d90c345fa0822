"""Graceful shutdown of one replica: unready first, then drain, then exit (bounded).

    SIGTERM ─► /readyz 503 ─(CHAT_SHUTDOWN_DELAY_S: health checks take the replica out, it still serves)─►
    WebSockets closed with 1012 by the app, evenly over SPREAD_S, each waiting for its client's close (the
    closing handshake, all done within CLOSE_WAIT_S) ─► uvicorn stops accepting ─► in-flight requests finish
    ─(CHAT_DRAIN_TIMEOUT_S)─► exit

The app closes the sockets itself rather than leaving them to uvicorn's shutdown, which writes the 1012 close
frame and closes the TCP connection at once: a client frame arriving after that (a send every few ms) met a
closed socket, the kernel answered with a reset, and the reset could overtake the close frame through the load
balancer - the client saw the connection drop without a close code (1006), so it did not treat it as a restart:
its sends failed until it reconnected ('not connected' in blue-green game days, 3-8 sockets of 16 in the
integration test). A client that receives 1012 reconnects at once and catches up with ``after=``.

A second SIGTERM or SIGINT skips the delay (uvicorn's own handling: stop now, then drain).
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import time
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from chat.rebalance import Sheddable, Sockets

__all__ = ["DrainingServer", "due", "to_close"]

log = logging.getLogger(__name__)

BUSY_GRACE_S = 0.5
"""A socket storing a send is closed once idle, or after this long anyway: a client sending faster than its
sends commit is never idle, and its unacknowledged sends are resent on its next connection (same client ids)."""
SPREAD_S = 1.0
"""A draining replica closes its sockets evenly over this long, not all in one tick: every close is a reconnect
and a catch-up at another replica, and 19 of them at once stalled the sends there (a game day's rolling deploy:
acks of 139-166 ms, one 1 s window at p95 101 ms)."""
CLOSE_WAIT_S = SPREAD_S + BUSY_GRACE_S + 1.0
"""How long a draining replica closes and waits for its WebSocket clients to answer its 1012 closes (the last
ones get 1 s) before uvicorn's shutdown closes what is left at once."""
_RESTART = "service restart: reconnect with after=<last id>"


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a readiness-first SIGTERM (the preStop hook of a Kubernetes pod, built in)."""

    def __init__(self, config: uvicorn.Config, app: Starlette, *, delay_s: float) -> None:
        super().__init__(config)
        self.app = app
        self.delay_s = delay_s
        self._stop_at: float | None = None
        self._close_from: float | None = None
        self._to_close = 0
        self._closing: set[asyncio.Task[None]] = set()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self._stop_at is None and self.delay_s > 0 and not self.should_exit:
            self._captured_signals.append(sig)  # re-raised after the shutdown, as uvicorn does
            self.app.state.draining = True
            self._stop_at = time.monotonic() + self.delay_s
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._stop_at is not None and time.monotonic() >= self._stop_at and not self.should_exit:
            now = time.monotonic()
            if self._close_from is None:
                self._close_from = now
                self._to_close = len(self.app.state.service.sockets)
                log.info("draining: closing %d WebSockets with 1012 over %.1f s", self._to_close, SPREAD_S)
            elapsed = now - self._close_from
            if self._websockets_open() and elapsed < CLOSE_WAIT_S:
                self._close_websockets(elapsed)
                await super().on_tick(counter)
                return False
            log.info("draining: stopped accepting connections %.1f s after SIGTERM", now - self._stop_at + self.delay_s)
            return True
        return await super().on_tick(counter)

    def _websockets_open(self) -> bool:
        """Whether a WebSocket connection is still open (its closing handshake not finished)."""
        return any(isinstance(c, WebSocketsSansIOProtocol) for c in self.server_state.connections)

    def _close_websockets(self, elapsed: float) -> None:
        """Close with 1012 the sockets due ``elapsed`` s into the closing (``to_close``); each close waits for the
        client's close in the background."""
        sockets = self.app.state.service.sockets
        for sock in to_close(sockets, self._to_close, elapsed):
            sockets.discard(sock)  # closed once
            task = asyncio.get_running_loop().create_task(sock.shed(_RESTART))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


def to_close(sockets: Sockets, total: int, elapsed: float) -> list[Sheddable]:
    """The sockets to close ``elapsed`` s into closing ``total`` of them evenly over SPREAD_S, oldest idle first
    (a socket storing a send is skipped until its ack is written, or BUSY_GRACE_S after the spread)."""
    if elapsed >= SPREAD_S + BUSY_GRACE_S:
        return sockets.all()
    if elapsed >= SPREAD_S:
        return sockets.oldest_idle(len(sockets))
    return sockets.oldest_idle(due(total, elapsed, SPREAD_S) - (total - len(sockets)))


def due(total: int, elapsed: float, spread_s: float) -> int:
    """How many of ``total`` sockets are to be closed ``elapsed`` s into closing them evenly over ``spread_s``:
    one at once, all by the end."""
    if spread_s <= 0:
        return total
    return min(total, max(1, math.ceil(total * elapsed / spread_s)))
