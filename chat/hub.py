"""Replica-local delivery: WebSocket subscribers per room, each with a bounded queue."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict

from chat.db import Message

__all__ = ["Hub", "Subscriber"]


class Subscriber:
    """One WebSocket's inbox: bounded, and each message id is delivered at most once."""

    def __init__(self, room: str, maxsize: int = 1000, remember: int = 4096) -> None:
        self.room = room
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self.overflowed = False
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._remember = remember

    def seen(self, message_id: int) -> bool:
        """Record ``message_id`` as delivered; True when it had been already."""
        if message_id in self._seen:
            return True
        self._seen[message_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return False

    def offer(self, message: Message) -> None:
        """Queue ``message``; a full queue marks the subscriber overflowed (it will be disconnected)."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True


class Hub:
    """Rooms to subscribers of this replica."""

    def __init__(self) -> None:
        self._rooms: defaultdict[str, set[Subscriber]] = defaultdict(set)
        self._last: dict[str, int] = {}  # per room with subscribers: highest id delivered or replayed

    def join(self, sub: Subscriber) -> None:
        self._rooms[sub.room].add(sub)

    def leave(self, sub: Subscriber) -> None:
        subs = self._rooms.get(sub.room)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._rooms[sub.room]
                self._last.pop(sub.room, None)

    def deliver(self, message: Message) -> None:
        subs = self._rooms.get(message.room)
        if not subs:
            return
        self.note(message.room, message.id)
        for sub in tuple(subs):
            sub.offer(message)

    def note(self, room: str, last_id: int) -> None:
        """Record that ``room``'s sockets have everything up to ``last_id`` (after a replay)."""
        if room in self._rooms:
            self._last[room] = max(self._last.get(room, 0), last_id)

    def marks(self) -> dict[str, int]:
        """Rooms with subscribers and the highest id delivered in each."""
        return {room: self._last.get(room, 0) for room in self._rooms}

    def has(self, room: str) -> bool:
        return room in self._rooms

    def connections(self) -> int:
        return sum(len(s) for s in self._rooms.values())
