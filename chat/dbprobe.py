"""Can this replica reach a writable database? A probe on a connection of its own, every 0.5 s.

    watch() ── every PROBE_INTERVAL_S ──┐
    /readyz ── Database.ping() ─────────┴─► check(): one probe at a time (callers share the one in flight)
                                              │  SELECT on the probe's own connection, through the same
                                              │  path as the pool, within PROBE_TIMEOUT_S
                                              ▼
                                    on_result(True | False) ─► chat_db_reachable 1 | 0

A refused connection (the link is down: fails fast) and a database that never answers (packets lost: hangs)
give the same answer, ``False``, within ``PROBE_TIMEOUT_S``, so the alert built on the gauge
(ChatDatabaseUnreachable) does not depend on how the outage looks. The send path's errors cannot say this:
during a partition sends wait for a pooled connection until CHAT_SEND_TIMEOUT_S instead of failing, so
whether any error is counted depends on which statements were in flight when the link broke.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg

__all__ = ["PROBE_INTERVAL_S", "PROBE_TIMEOUT_S", "DatabaseProbe"]

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 0.5
"""Pause between two background probes (``watch``)."""
PROBE_TIMEOUT_S = 2.0
"""A probe not answered within this long counts as unreachable (a hang, not only a refusal)."""
_WRITABLE = "SELECT NOT (pg_is_in_recovery() OR current_setting('transaction_read_only')::bool)"


class DatabaseProbe:
    """Probes ``conninfo`` on one connection kept open between probes; reports each result to ``on_result``."""

    def __init__(
        self, conninfo: str, *, timeout_s: float = PROBE_TIMEOUT_S, on_result: Callable[[bool], None] | None = None
    ) -> None:
        self.conninfo = conninfo
        self.timeout_s = timeout_s
        self.reachable: bool | None = None
        """The last probe's answer (None before the first)."""
        self._on_result = on_result or (lambda ok: None)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._running: asyncio.Task[bool] | None = None
        self._orphans: set[asyncio.Task[None]] = set()

    async def check(self) -> bool:
        """True when a writable primary answers within ``timeout_s``. Concurrent callers share one probe, so
        a hanging database holds one probe, not one per caller (the load balancer checks several times a s)."""
        task = self._running
        if task is None or task.done():
            task = self._running = asyncio.create_task(self._probe(), name="db-probe")
        return await asyncio.shield(task)

    async def watch(self, interval_s: float = PROBE_INTERVAL_S) -> None:
        """Background task: probe every ``interval_s``, whether or not anyone asks (readiness checks may not)."""
        while True:
            await self.check()
            await asyncio.sleep(interval_s)

    async def close(self) -> None:
        for task in (self._running, *self._orphans):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in (self._running, *self._orphans) if t is not None), return_exceptions=True)
        await self._drop_connection()

    async def _probe(self) -> bool:
        # Not wait_for: cancelling a hung query makes psycopg send a cancel request and wait for the query
        # (up to 10 s), which would hold this probe - and every /readyz - for as long. A probe that did not
        # answer in time is left to end in the background; the next one opens a new connection.
        attempt = asyncio.create_task(self._probe_once())
        done, _ = await asyncio.wait((attempt,), timeout=self.timeout_s)
        ok = False
        if not done:
            log.debug("database probe: no answer within %g s", self.timeout_s)
            self._abandon(attempt)
        elif (exc := attempt.exception()) is not None:
            log.debug("database probe failed: %s: %s", type(exc).__name__, str(exc).strip().split("\n")[0])
        else:
            ok = attempt.result()
        if not ok:
            await self._drop_connection()
        if ok != self.reachable:
            log.log(logging.INFO if ok else logging.WARNING, "database %s", "reachable" if ok else "unreachable")
        self.reachable = ok
        self._on_result(ok)
        return ok

    def _abandon(self, attempt: asyncio.Task[bool]) -> None:
        """Cancel ``attempt`` without waiting; its connection is closed once psycopg has let go of it."""
        conn, self._conn = self._conn, None
        attempt.cancel()

        async def close_after() -> None:
            await asyncio.gather(attempt, return_exceptions=True)
            if conn is not None:
                await _close_quietly(conn)

        orphan = asyncio.create_task(close_after())
        self._orphans.add(orphan)
        orphan.add_done_callback(self._orphans.discard)

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await _close_quietly(conn)

    async def _probe_once(self) -> bool:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        cur = await self._conn.execute(_WRITABLE)
        row = await cur.fetchone()
        return row is not None and bool(row[0])


async def _close_quietly(conn: psycopg.AsyncConnection[Any]) -> None:
    try:
        await asyncio.wait_for(conn.close(), 1.0)
    except (TimeoutError, psycopg.Error, OSError):
        log.debug("closing the probe's connection failed")
