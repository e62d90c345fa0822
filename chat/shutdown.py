"""Graceful shutdown of one replica: unready first, then drain, then exit (bounded).

    SIGTERM ─► /readyz 503 ─(CHAT_SHUTDOWN_DELAY_S: health checks take the replica out, it still serves)─►
    WebSockets closed with 1012 by the app, each waiting for its client's close (the closing handshake, at
    most CLOSE_WAIT_S) ─► uvicorn stops accepting ─► in-flight requests finish ─(CHAT_DRAIN_TIMEOUT_S)─► exit

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
import signal
import time
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

__all__ = ["DrainingServer"]

log = logging.getLogger(__name__)

BUSY_GRACE_S = 0.5
"""A socket storing a send is closed once idle, or after this long anyway: a client sending faster than its
sends commit is never idle, and its unacknowledged sends are resent on its next connection (same client ids)."""
CLOSE_WAIT_S = 2.0
"""How long a draining replica waits for its WebSocket clients to answer its 1012 closes before uvicorn's
shutdown closes what is left at once."""
_RESTART = "service restart: reconnect with after=<last id>"


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a readiness-first SIGTERM (the preStop hook of a Kubernetes pod, built in)."""

    def __init__(self, config: uvicorn.Config, app: Starlette, *, delay_s: float) -> None:
        super().__init__(config)
        self.app = app
        self.delay_s = delay_s
        self._stop_at: float | None = None
        self._close_until: float | None = None
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
            if self._close_until is None:
                self._close_until = now + CLOSE_WAIT_S
                log.info("draining: closing %d WebSockets with 1012", len(self.app.state.service.sockets))
            if self._websockets_open() and now < self._close_until:
                self._close_websockets(busy_too=now >= self._close_until - CLOSE_WAIT_S + BUSY_GRACE_S)
                await super().on_tick(counter)
                return False
            log.info("draining: stopped accepting connections %.1f s after SIGTERM", now - self._stop_at + self.delay_s)
            return True
        return await super().on_tick(counter)

    def _websockets_open(self) -> bool:
        """Whether a WebSocket connection is still open (its closing handshake not finished)."""
        return any(isinstance(c, WebSocketsSansIOProtocol) for c in self.server_state.connections)

    def _close_websockets(self, *, busy_too: bool) -> None:
        """Close with 1012 every open socket that is not storing a send (a busy one once its ack is written, at
        a later tick, or ``busy_too``); each close waits for the client's close in the background."""
        sockets = self.app.state.service.sockets
        for sock in sockets.all() if busy_too else sockets.oldest_idle(len(sockets)):
            sockets.discard(sock)  # closed once
            task = asyncio.get_running_loop().create_task(sock.shed(_RESTART))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
