"""Fill the gap a Redis outage leaves in the live stream of sockets that stayed connected.

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


class GapFiller:
    def __init__(self, hub: Hub, db: Database, metrics: Metrics) -> None:
        self.hub = hub
        self.db = db
        self.metrics = metrics
        self.marks: dict[str, int] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

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

    def joined(self, room: str, last_id: int) -> None:
        """A socket of ``room`` has everything up to ``last_id`` (its replay ended there)."""
        self.hub.note(room, last_id)
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
