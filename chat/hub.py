"""Replica-local delivery: WebSocket subscribers per room, each with a bounded queue, fed in room sequence."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict
from collections.abc import Callable

from chat.db import Message

__all__ = ["Hub", "Subscriber"]


class Subscriber:
    """One WebSocket's inbox: bounded, and each message id is delivered at most once."""

    def __init__(self, room: str, maxsize: int = 1000, remember: int = 4096) -> None:
        self.room = room
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.direct: Callable[[Message], bool] | None = None
        """Set once the socket is live: writes a message now (True), or cannot without waiting (False)."""
        self.pushing = False
        """Whether the socket's pusher holds a message it took from the queue (not written yet)."""
        self._seen: OrderedDict[int, None] = OrderedDict()
        self._remember = remember

    def delivered(self, message_id: int) -> bool:
        """Whether ``message_id`` has been delivered (recorded by ``seen``)."""
        return message_id in self._seen

    def seen(self, message_id: int) -> bool:
        """Record ``message_id`` as delivered; True when it had been already."""
        if message_id in self._seen:
            return True
        self._seen[message_id] = None
        if len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        return False

    def offer(self, message: Message) -> None:
        """Write ``message`` now through ``direct`` when nothing is queued before it; else queue it for the
        socket's pusher. A full queue marks the subscriber overflowed (it will be disconnected)."""
        if self.direct is not None and not self.pushing and self.queue.empty() and self.direct(message):
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True


class Hub:
    """Rooms to subscribers of this replica, each room's messages released in sequence.

        commit (this replica) ──┐
        Redis (other replicas) ─┼─> deliver ─> seq == next? ──yes──> every socket's inbox (then held ones)
        gap fill (database) ────┘                  └──no──> held; on_gap(room): read the gap from the db

    A room's position (the last seq released) comes from the first socket's replay (``note``); until then
    messages are held. A message with a seq at or below the position is a duplicate and dropped.
    """

    def __init__(self, on_gap: Callable[[str], None] | None = None) -> None:
        self._rooms: defaultdict[str, set[Subscriber]] = defaultdict(set)
        self._last: dict[str, int] = {}  # per room with subscribers: highest id delivered or replayed
        self._seq: dict[str, int] = {}  # per room: last seq released (absent: not known yet)
        self._held: dict[str, dict[int, Message]] = {}
        self.on_gap = on_gap or (lambda room: None)

    def join(self, sub: Subscriber) -> None:
        self._rooms[sub.room].add(sub)

    def leave(self, sub: Subscriber) -> None:
        subs = self._rooms.get(sub.room)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._rooms[sub.room]
                self._last.pop(sub.room, None)
                self._seq.pop(sub.room, None)
                self._held.pop(sub.room, None)

    def deliver(self, message: Message) -> None:
        """Release ``message`` to the room's sockets in sequence (hold it while an earlier one is missing)."""
        room = message.room
        if not self._rooms.get(room):
            return
        if message.seq is None:  # stored before rooms had a sequence: as it comes
            self._release(message)
            return
        position = self._seq.get(room)
        if position is not None and message.seq <= position:
            return
        self._held.setdefault(room, {})[message.seq] = message
        if position is not None:
            self._drain(room)

    def _drain(self, room: str) -> None:
        held = self._held.get(room, {})
        position = self._seq[room]
        for seq in [s for s in held if s <= position]:
            del held[seq]
        while (message := held.pop(position + 1, None)) is not None:
            position += 1
            self._seq[room] = position
            self._release(message)
        if held:
            self.on_gap(room)

    def _release(self, message: Message) -> None:
        self._last[message.room] = max(self._last.get(message.room, 0), message.id)
        for sub in tuple(self._rooms.get(message.room, ())):
            sub.offer(message)

    def note(self, room: str, last_id: int, last_seq: int | None = None) -> None:
        """Record that ``room``'s sockets have everything up to ``last_id`` / ``last_seq`` (after a replay)."""
        if room not in self._rooms:
            return
        self._last[room] = max(self._last.get(room, 0), last_id)
        if last_seq is not None and room not in self._seq:
            self._seq[room] = last_seq
            self._drain(room)

    def position(self, room: str) -> int | None:
        """The last seq released in ``room`` (None: not known yet or no subscriber)."""
        return self._seq.get(room)

    def gap(self, room: str) -> bool:
        """Whether ``room`` holds messages behind a missing one."""
        return bool(self._held.get(room)) and room in self._seq

    def marks(self) -> dict[str, int]:
        """Rooms with subscribers and the highest id delivered in each."""
        return {room: self._last.get(room, 0) for room in self._rooms}

    def has(self, room: str) -> bool:
        return room in self._rooms

    def connections(self) -> int:
        return sum(len(s) for s in self._rooms.values())
