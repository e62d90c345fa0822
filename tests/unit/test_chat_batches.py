"""``chat.batches.Batcher``: requests arriving while a call is under way share the next call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from chat.batches import Batcher

pytestmark = pytest.mark.unit


class _Server:
    """A call that answers each item doubled, or ValueError for a negative one; ``gate`` holds the call."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def call(self, items: list[int]) -> list[int | BaseException]:
        self.calls.append(items)
        await self.gate.wait()
        return [ValueError(f"negative {i}") if i < 0 else 2 * i for i in items]


def test_a_quiet_request_goes_at_once_and_the_ones_behind_a_call_share_the_next() -> None:
    """The first item starts a call of its own; the three submitted while it runs go together in one call;
    each gets its own answer, an exception instance being that item's exception."""

    async def run() -> tuple[list[list[int]], list[int | BaseException]]:
        server = _Server()
        batcher: Batcher[int, int] = Batcher(server.call)
        server.gate.clear()
        first = batcher.submit(1)
        await asyncio.sleep(0)  # the first call is under way, held at the gate
        rest = [batcher.submit(i) for i in (2, -3, 4)]
        server.gate.set()
        answers = await asyncio.gather(first, *rest, return_exceptions=True)
        return server.calls, answers

    calls, answers = asyncio.run(run())
    assert calls == [[1], [2, -3, 4]]
    assert answers[0] == 2 and answers[1] == 4 and answers[3] == 8
    assert isinstance(answers[2], ValueError)


def test_a_call_that_raises_fails_every_item_of_its_batch_only() -> None:
    """An exception the call raises is each of its items' exception, not the previous or the next batch's."""
    raising = {2}

    async def call(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        if raising & set(items):
            raise ConnectionError("lost")
        return items

    async def run() -> list[int | BaseException]:
        batcher: Batcher[int, int] = Batcher(call)
        first = batcher.submit(1)  # alone, under way while the next two wait
        got = await asyncio.gather(first, batcher.submit(2), batcher.submit(3), return_exceptions=True)
        return [*got, await batcher.submit(4)]

    got = asyncio.run(run())
    assert got[0] == 1 and got[3] == 4
    assert isinstance(got[1], ConnectionError) and isinstance(got[2], ConnectionError)


def test_a_stale_call_no_longer_holds_the_next_back() -> None:
    """A call hanging past ``stale_s`` lets the next batch start beside it; the hanging one still answers
    its own items when it ends."""

    async def run() -> tuple[list[list[int]], int, int]:
        server = _Server()
        batcher: Batcher[int, int] = Batcher(server.call, stale_s=0.05)
        server.gate.clear()
        hung = batcher.submit(1)
        await asyncio.sleep(0)
        later = batcher.submit(2)
        await asyncio.wait_for(_until(lambda: len(server.calls) == 2), 5)  # started beside the hung call
        server.gate.set()
        return server.calls, await hung, await later

    calls, hung, later = asyncio.run(run())
    assert calls == [[1], [2]] and (hung, later) == (2, 4)


def test_calls_linger_only_once_batches_form_by_themselves() -> None:
    """After a call of one item the next starts as soon as it ends; after a call of several, the next starts
    no sooner than ``linger_s`` after that call started, and carries everything that arrived meanwhile."""
    linger = 0.5

    async def run() -> tuple[list[list[int]], list[float]]:
        loop = asyncio.get_running_loop()
        server, starts = _Server(), []

        async def call(items: list[int]) -> list[int | BaseException]:
            starts.append(loop.time())
            return await server.call(items)

        batcher: Batcher[int, int] = Batcher(call, linger_s=linger)
        server.gate.clear()
        first = batcher.submit(1)  # quiet: at once
        await asyncio.sleep(0)
        pair = [batcher.submit(2), batcher.submit(3)]  # behind a call of one: at once when it ends
        server.gate.set()
        await asyncio.gather(first, *pair)
        lingering = [batcher.submit(4)]  # behind a call of two: lingers
        await asyncio.sleep(linger / 5)
        lingering.append(batcher.submit(5))  # arrives during the linger: the same call
        await asyncio.gather(*lingering)
        await batcher.submit(6)  # behind the call of two again: lingers
        await batcher.submit(7)  # behind a call of one: at once
        return server.calls, starts

    calls, starts = asyncio.run(run())
    assert calls == [[1], [2, 3], [4, 5], [6], [7]]
    assert starts[1] - starts[0] < linger  # after a call of one
    assert starts[2] - starts[1] >= linger  # after a call of two
    assert starts[3] - starts[2] >= linger
    assert starts[4] - starts[3] < linger  # after a call of one


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.005)
