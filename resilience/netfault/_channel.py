"""A Go-like chunk channel for the toxic chain: FIFO, bounded for backpressure, safe to cancel.

Unlike ``asyncio.Queue`` an item leaves the channel only when the awaiting coroutine resumes, so
cancelling a stage never loses a chunk, and ``force_put`` ignores the bound (used when a stage is
interrupted and must hand over the chunk it held, as Toxiproxy does: "don't drop any data on the floor").
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["EOF", "Channel", "Chunk"]


@dataclass(slots=True)
class Chunk:
    """Bytes read from a socket and the monotonic time they were read (latency counts from it)."""

    data: bytes
    ts: float


EOF = None
"""The end of a stream (Go closes the channel; we pass None)."""

Item = Chunk | None


class Channel:
    """FIFO of chunks with a soft bound ``maxsize`` (>= 1)."""

    def __init__(self, maxsize: int = 1) -> None:
        self.items: deque[Item] = deque()
        self.maxsize = max(1, maxsize)
        self._getter: asyncio.Future[None] | None = None
        self._putters: list[asyncio.Future[None]] = []
        self.on_space: Callable[[], None] | None = None
        """Called once when the channel drops below its bound (the socket reader's backpressure hook)."""

    def __len__(self) -> int:
        return len(self.items)

    def full(self) -> bool:
        return len(self.items) >= self.maxsize

    def force_put(self, item: Item) -> None:
        """Append ignoring the bound."""
        self.items.append(item)
        self._wake_getter()

    async def put(self, item: Item) -> None:
        while self.full():
            fut = asyncio.get_running_loop().create_future()
            self._putters.append(fut)
            try:
                await fut
            finally:
                if fut in self._putters:
                    self._putters.remove(fut)
        self.force_put(item)

    async def get(self) -> Item:
        while not self.items:
            fut = asyncio.get_running_loop().create_future()
            self._getter = fut
            try:
                await fut
            finally:
                if self._getter is fut:
                    self._getter = None
        item = self.items.popleft()
        self._wake_putters()
        return item

    def take_all(self) -> list[Item]:
        """Remove and return every item (oldest first)."""
        items = list(self.items)
        self.items.clear()
        self._wake_putters()
        return items

    def _wake_getter(self) -> None:
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)

    def _wake_putters(self) -> None:
        if self.full():
            return
        for fut in self._putters:
            if not fut.done():
                fut.set_result(None)
        hook, self.on_space = self.on_space, None
        if hook is not None:
            hook()
