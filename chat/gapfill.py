"""Fill gaps in the live stream of sockets that stayed connected.

A room's messages reach a replica from its own commits and, through Redis, from the other replicas, in
whatever order those paths take; the hub releases them in room sequence and holds a message whose
predecessor has not arrived (``Hub.on_gap``). If the predecessor is still missing after ``HOLD_S`` (its
publish was lost, or Redis is down), the gap is read from the database and released in order.

While the Redis subscriber is down, messages sent through other replicas are stored but not pushed here.
When it goes down we remember, per room with sockets on this replica, the highest id delivered; when it
is back we read each room's later messages from the database and deliver them (every socket drops ids it
already has). Rooms joined during the outage start from the id their replay ended at.
"""

from __future__ import annotations

import asyncio
import logging

from chat.db import Database, DatabaseUnavailable
from chat.hub import Hub
from chat.metrics import Metrics

__all__ = ["GapFiller"]

log = logging.getLogger(__name__)
PAGE = 500
HOLD_S = 0.2
"""How long a message waits for its predecessor to arrive by itself before the database is asked."""
FILL_ATTEMPTS = 20


class GapFiller:
    def __init__(self, hub: Hub, db: Database, metrics: Metrics) -> None:
        self.hub = hub
        self.db = db
        self.metrics = metrics
        self.marks: dict[str, int] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._filling: set[str] = set()
        hub.on_gap = self.gap_seen

    def gap_seen(self, room: str) -> None:
        """The hub holds messages of ``room`` behind a missing one: fill the gap unless it closes by itself."""
        if room in self._filling:
            return
        self._filling.add(room)
        task = asyncio.get_running_loop().create_task(self._fill_gap(room))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill_gap(self, room: str) -> None:
        try:
            for _ in range(FILL_ATTEMPTS):
                await asyncio.sleep(HOLD_S)
                position = self.hub.position(room)
                if position is None or not self.hub.gap(room):
                    return
                try:
                    page = await self.db.history_after_seq(room, position, PAGE)
                except DatabaseUnavailable as exc:
                    log.warning("gap fill of room %s after seq %d failed: %s", room, position, exc)
                    continue
                self.metrics.gap_filled.inc(len(page))
                for message in page:
                    self.hub.deliver(message)
            log.warning("room %s: gap after seq %s still open after %d attempts", room, position, FILL_ATTEMPTS)
        finally:
            self._filling.discard(room)

    def state_changed(self, up: bool) -> None:
        """Called by the fan-out whenever its subscriber connects (True) or is lost (False)."""
        self.metrics.redis_up.set(1 if up else 0)
        if not up:
            if self.marks is None:
                self.marks = self.hub.marks()
            return
        if self.marks:
            task = asyncio.get_running_loop().create_task(self._fill(self.marks))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.marks = None

    def joined(self, room: str, last_id: int, last_seq: int | None = None) -> None:
        """A socket of ``room`` has everything up to ``last_id`` / ``last_seq`` (its replay ended there)."""
        self.hub.note(room, last_id, last_seq)
        if self.marks is not None:
            self.marks.setdefault(room, last_id)

    async def _fill(self, marks: dict[str, int]) -> None:
        filled = 0
        for room, after in marks.items():
            last = after
            while self.hub.has(room):
                try:
                    page = await self.db.history(room, last, PAGE)
                except DatabaseUnavailable as exc:
                    log.warning("gap fill of room %s after the redis outage failed: %s", room, exc)
                    break
                for message in page:
                    self.hub.deliver(message)
                filled += len(page)
                if len(page) < PAGE:
                    break
                last = page[-1].id
        log.info("redis is back: delivered %d messages stored during the outage to %d rooms", filled, len(marks))
