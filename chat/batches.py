"""Requests that share round trips: the ones arriving while a call is under way go together in the next call.

A quiet caller waits for nothing (the first request starts a call at once); a busy replica pays one round trip,
one write and one wake-up of the server per batch instead of per request. Used for the sends' database
statement (``chat.db``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batcher"]

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")


class Batcher(Generic[I, R]):
    """``submit(item)``: a future of the item's result.

    ``call(items)`` answers one result per item, in order; an exception instance in its answer is that item's
    exception, an exception it raises is every item's. At most ``max_items`` go in one call. A call that has
    run ``stale_s`` seconds no longer holds the next one back (a hung connection must not stall every later
    request; None: it always does). A call is never cancelled by a caller that stops waiting: its future is
    only abandoned."""

    def __init__(
        self,
        call: Callable[[list[I]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_items: int = 500,
        stale_s: float | None = None,
    ) -> None:
        self._call = call
        self._max_items = max_items
        self._stale_s = stale_s
        self._waiting: list[tuple[I, asyncio.Future[R]]] = []
        self._holder: asyncio.Task[None] | None = None
        """The call that holds the next one back (None: the next request starts a call at once)."""
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, item: I) -> asyncio.Future[R]:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._holder is None:
            self._start()
        return future

    def _start(self) -> None:
        batch, self._waiting = self._waiting[: self._max_items], self._waiting[self._max_items :]
        task = asyncio.ensure_future(self._run(batch))
        self._holder = task
        self._tasks.add(task)
        stale = None
        if self._stale_s is not None:
            stale = asyncio.get_running_loop().call_later(self._stale_s, self._release, task)
        task.add_done_callback(lambda t: self._ended(t, stale))

    def _ended(self, task: asyncio.Task[None], stale: asyncio.TimerHandle | None) -> None:
        if stale is not None:
            stale.cancel()
        self._tasks.discard(task)
        self._release(task)

    def _release(self, task: asyncio.Task[None]) -> None:
        """``task`` no longer holds the next call back (it ended, or went stale): start it if one waits."""
        if self._holder is task:
            self._holder = None
            if self._waiting:
                self._start()

    async def _run(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        try:
            answers = await self._call([item for item, _ in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} was answered {len(answers)} results")
        except asyncio.CancelledError:  # the loop is closing
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every item: their callers decide
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue  # its caller gave up
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)
