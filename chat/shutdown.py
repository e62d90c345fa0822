"""Graceful shutdown of one replica: unready first, then drain, then exit (bounded).

    SIGTERM ─► /readyz 503 ─(CHAT_SHUTDOWN_DELAY_S: health checks take the replica out, it still serves)─►
    uvicorn stops accepting ─► in-flight requests finish, WebSockets closed with 1012 (service restart:
    clients reconnect at once elsewhere and catch up with ``after=``) ─(CHAT_DRAIN_TIMEOUT_S)─► exit

A second SIGTERM or SIGINT skips the delay (uvicorn's own handling: stop now, then drain).
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import uvicorn
from starlette.applications import Starlette

__all__ = ["DrainingServer"]

log = logging.getLogger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a readiness-first SIGTERM (the preStop hook of a Kubernetes pod, built in)."""

    def __init__(self, config: uvicorn.Config, app: Starlette, *, delay_s: float) -> None:
        super().__init__(config)
        self.app = app
        self.delay_s = delay_s
        self._stop_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self._stop_at is None and self.delay_s > 0 and not self.should_exit:
            self._captured_signals.append(sig)  # re-raised after the shutdown, as uvicorn does
            self.app.state.draining = True
            self._stop_at = time.monotonic() + self.delay_s
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._stop_at is not None and time.monotonic() >= self._stop_at:
            log.info("draining: stopped accepting connections %.1f s after SIGTERM", self.delay_s)
            return True
        return await super().on_tick(counter)
