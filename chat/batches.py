"""Requests that share round trips: the ones arriving while a call is under way go together in the next call.

A quiet caller waits for nothing (the first request starts a call at once); a busy replica pays one round trip,
one write and one wake-up of the server per batch instead of per request. Once batches form by themselves (a
call carried more than one request: requests arrive faster than round trips end), the calls are also spaced by
``linger_s``: the next starts that long after the previous one started, so a batch collects what arrived over a
few milliseconds rather than over one round trip. Fewer, larger batches under load, each request waiting at most
``linger_s`` longer; a lightly loaded caller (one request per call) never lingers. Used for the sends' database
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
    exception, an exception it raises is every item's. At most ``max_items`` go in one call. After a call of
    more than one item the next starts no sooner than ``linger_s`` after it started; after a call of one (or
    with ``linger_s`` 0), as soon as it ends. A call that has run ``stale_s`` seconds no longer holds the next
    one back (a hung connection must not stall every later request; None: it always does). A call is never
    cancelled by a caller that stops waiting: its future is only abandoned."""

    def __init__(
        self,
        call: Callable[[list[I]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_items: int = 500,
        linger_s: float = 0.0,
        stale_s: float | None = None,
    ) -> None:
        self._call = call
        self._max_items = max_items
        self._linger_s = linger_s
        self._stale_s = stale_s
        self._linger_until = float("-inf")
        """Loop time before which the next call does not start (the last call's start + ``linger_s`` when it
        carried more than one item)."""
        self._timer: asyncio.TimerHandle | None = None
        """Starts the next call when its linger is over (None: no call is waiting for it)."""
        self._waiting: list[tuple[I, asyncio.Future[R]]] = []
        self._holder: asyncio.Task[None] | None = None
        """The call that holds the next one back (None: the next request starts a call at once)."""
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, item: I) -> asyncio.Future[R]:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        self._kick()
        return future

    def _kick(self) -> None:
        """Start the next call if one waits, none holds it back, and the linger is over (else time it)."""
        if self._holder is not None or not self._waiting or self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        delay = self._linger_until - loop.time()
        if delay > 0:
            self._timer = loop.call_later(delay, self._lingered)
        else:
            self._start()

    def _lingered(self) -> None:
        self._timer = None
        self._kick()

    def _start(self) -> None:
        batch, self._waiting = self._waiting[: self._max_items], self._waiting[self._max_items :]
        if len(batch) > 1 and self._linger_s > 0:
            self._linger_until = asyncio.get_running_loop().time() + self._linger_s
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
            self._kick()

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
