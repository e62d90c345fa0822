"""What each toxic does to a stream: one coroutine per toxic and connection direction (a *stub*).

A stub reads chunks from its input channel and writes to its output channel, like Toxiproxy's
``ToxicStub``. A running stub can be interrupted (its task cancelled) and restarted with new attributes;
a chunk it held at that moment is handed on untouched (``held``). ``close()`` ends the stream: the
writer at the end of the chain then closes the destination socket (with an RST when ``reset_peer``
armed SO_LINGER 0 on the connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

from resilience.netfault._channel import EOF, Channel, Chunk
from resilience.netfault.model import Toxic

__all__ = ["BUFFER_SIZE", "Stub", "slice_bounds"]

log = logging.getLogger(__name__)

BUFFER_SIZE = {"latency": 1024}
"""Input channel size per toxic type (Toxiproxy's ``BufferedToxic``; others are unbuffered)."""


class Stub:
    """One toxic on one connection direction."""

    def __init__(self, toxic: Toxic, input_: Channel, output: Channel) -> None:
        self.toxic = toxic
        self.input = input_
        self.output = output
        self.held: Chunk | None = None
        self.closed = False
        self.state: dict[str, int] = {}
        self.task: asyncio.Task[None] | None = None

    def run(self) -> None:
        """Start (or restart) the toxic; toxicity is rolled now, as Toxiproxy does on every run."""
        toxic = self.toxic
        attrs = dict(toxic.attributes)
        pipe = _PIPES[toxic.type] if random.random() < toxic.toxicity else _noop
        self.task = asyncio.get_running_loop().create_task(pipe(self, attrs))
        self.task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A toxic that crashed closes its stream rather than leaving the connection hanging."""
        if not task.cancelled() and task.exception() is not None:
            log.error("toxic %s failed; closing the connection", self.toxic.name, exc_info=task.exception())
            self.close()

    async def interrupt(self) -> bool:
        """Stop the running toxic, handing on any chunk it held; False when the stub is closed."""
        if self.closed:
            return False
        task, self.task = self.task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.closed:
            return False
        if self.held is not None:
            self.output.force_put(self.held)
            self.held = None
        return True

    def kill(self) -> None:
        """Cancel without handing anything on (the connection is going away)."""
        if self.task is not None:
            self.task.cancel()
            self.task = None

    def close(self) -> None:
        """End the stream after whatever is already in the output."""
        if not self.closed:
            self.closed = True
            self.held = None
            self.output.force_put(EOF)

    async def emit(self, chunk: Chunk) -> None:
        """Forward ``chunk``; if interrupted while waiting, ``interrupt`` hands it on."""
        self.held = chunk
        await self.output.put(chunk)
        self.held = None

    async def take(self) -> Chunk | None:
        """Next chunk, or None after closing the stub at end of stream."""
        chunk = await self.input.get()
        if chunk is None:
            self.close()
        return chunk


Pipe = Callable[[Stub, dict[str, int]], Coroutine[Any, Any, None]]


def _now() -> float:
    """The clock of chunk timestamps: ``time.monotonic`` (uvloop's ``loop.time()`` has 1 ms steps)."""
    return time.monotonic()


async def _noop(stub: Stub, attrs: dict[str, int]) -> None:
    while (chunk := await stub.take()) is not None:
        await stub.emit(chunk)


async def _latency(stub: Stub, attrs: dict[str, int]) -> None:
    latency, jitter = attrs.get("latency", 0), attrs.get("jitter", 0)
    while (chunk := await stub.take()) is not None:
        stub.held = chunk
        delay = latency + (random.randrange(jitter * 2) - jitter if jitter > 0 else 0)
        sleep = delay / 1000 - (_now() - chunk.ts)
        if sleep > 0:
            await asyncio.sleep(sleep)
        chunk.ts += sleep
        await stub.emit(chunk)


BANDWIDTH_BURST = 0.05
"""Seconds of idle time the bandwidth toxic may credit (so a stalled sender does not lower the rate)."""


async def _bandwidth(stub: Stub, attrs: dict[str, int]) -> None:
    """Toxiproxy's bandwidth toxic: sleep in proportion to each chunk, big chunks in 100 ms slices.

    One refinement: time spent waiting for input is credited up to ``BANDWIDTH_BURST``, so scheduling
    stalls on a loaded machine do not push the long-run rate below the setting."""
    rate = attrs.get("rate", 0)  # KB/s = bytes per ms
    debt = 0.0
    idle_since = _now()
    while (chunk := await stub.take()) is not None:
        stub.held = chunk
        if rate <= 0:
            await stub.emit(chunk)
            continue
        debt = max(debt - (_now() - idle_since), min(debt, -BANDWIDTH_BURST))
        debt += len(chunk.data) / rate / 1000
        step = rate * 100
        while len(chunk.data) > step:
            await asyncio.sleep(0.1)
            await stub.output.put(Chunk(chunk.data[:step], chunk.ts))
            chunk.data = chunk.data[step:]
            debt -= 0.1
        start = _now()
        if debt > 0:
            await asyncio.sleep(debt)
        debt -= _now() - start
        await stub.emit(chunk)
        idle_since = _now()


async def _slow_close(stub: Stub, attrs: dict[str, int]) -> None:
    while True:
        chunk = await stub.input.get()
        if chunk is None:
            await asyncio.sleep(attrs.get("delay", 0) / 1000)
            stub.close()
            return
        await stub.emit(chunk)


async def _timeout(stub: Stub, attrs: dict[str, int]) -> None:
    timeout = attrs.get("timeout", 0) / 1000
    while True:
        try:
            chunk = await asyncio.wait_for(stub.input.get(), timeout) if timeout > 0 else await stub.input.get()
        except TimeoutError:
            stub.close()
            return
        if chunk is None:
            stub.close()
            return


async def _reset_peer(stub: Stub, attrs: dict[str, int]) -> None:
    await stub.input.get()
    await asyncio.sleep(attrs.get("timeout", 0) / 1000)
    stub.close()


def slice_bounds(length: int, average: int, variation: int) -> list[int]:
    """Toxiproxy's slicer split of ``length`` bytes: cut points ``[0, c1, c1, c2, ..., length]`` in pairs."""
    out: list[int] = []
    stack = [(0, length)]
    while stack:
        start, end = stack.pop()
        if (end - start) - average <= variation:
            out += [start, end]
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += random.randrange(variation * 2) - variation
        stack += [(mid, end), (start, mid)]
    return out


async def _slicer(stub: Stub, attrs: dict[str, int]) -> None:
    average, variation, delay = attrs.get("average_size", 0), attrs.get("size_variation", 0), attrs.get("delay", 0)
    while (chunk := await stub.take()) is not None:
        stub.held = chunk
        data = chunk.data
        bounds = slice_bounds(len(data), average, variation)
        for i in range(1, len(bounds), 2):
            await stub.output.put(Chunk(data[bounds[i - 1] : bounds[i]], chunk.ts))
            chunk.data = data[bounds[i] :]
            if not chunk.data:
                stub.held = None
            await asyncio.sleep(delay / 1_000_000)
        stub.held = None


async def _limit_data(stub: Stub, attrs: dict[str, int]) -> None:
    limit = attrs.get("bytes", 0)
    sent = stub.state.setdefault("sent", 0)
    remaining = limit - sent
    while (chunk := await stub.take()) is not None:
        remaining = max(remaining, 0)
        if remaining < len(chunk.data):
            chunk = Chunk(chunk.data[:remaining], chunk.ts)
        if chunk.data:
            stub.state["sent"] += len(chunk.data)
            await stub.emit(chunk)
        remaining = limit - stub.state["sent"]
        if remaining <= 0:
            stub.close()
            return


_PIPES: dict[str, Pipe] = {
    "noop": _noop,
    "latency": _latency,
    "bandwidth": _bandwidth,
    "slow_close": _slow_close,
    "timeout": _timeout,
    "reset_peer": _reset_peer,
    "slicer": _slicer,
    "limit_data": _limit_data,
}
