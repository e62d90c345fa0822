"""One direction of a proxied connection: a zero-copy fast path, or the toxic chain, switched live.

Modes:
- ``fast``: no toxics. The event loop calls ``_fast_read`` when the source is readable; it splices
  socket -> pipe (1 MiB) -> socket with ``os.splice``, so no byte is copied into Python. Reading goes on
  while the pipe has room and the destination is written as soon as it accepts data; when the pipe is
  full, reading waits for the destination (backpressure).
- ``chain``: a reader callback turns socket data into timestamped chunks in the first channel; one
  ``Stub`` task per toxic; a writer task sends the last channel's chunks. Toxics are appended, updated
  and removed on the running chain the way Toxiproxy's ``ToxicLink`` does.
- ``drain``: the last toxic was removed; reading pauses until the writer has sent what the chain still
  held, then the link goes ``fast`` again. Nothing is dropped and the order is kept on every switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable

from resilience.netfault._channel import EOF, Channel, Chunk
from resilience.netfault.model import Toxic
from resilience.netfault.toxics import BUFFER_SIZE, Stub

__all__ = ["Link"]

PIPE_SIZE = 1 << 20
READ_SIZE = 32 * 1024  # Go's io.Copy buffer: the chunk size toxics see
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)


def _pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    with contextlib.suppress(OSError):
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    return r, w


class Link:
    """Copies ``src`` to ``dst`` through the toxics of one direction."""

    def __init__(self, src: socket.socket, dst: socket.socket, on_done: Callable[[Link], None]) -> None:
        self.loop = asyncio.get_running_loop()
        self.src, self.dst = src, dst
        self._src_fd, self._dst_fd = src.fileno(), dst.fileno()
        self._on_done = on_done
        self.mode = "new"
        self.stubs: list[Stub] = []
        self.out = Channel(1)
        self._in = self.out
        self._pipe: tuple[int, int] | None = None
        self._pending = 0
        self._pipe_size = PIPE_SIZE
        self._reading = False
        self._writing = False
        self.src_eof = False
        self._busy = False
        self._writer = self.loop.create_task(self._write_loop())

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self, toxics: list[Toxic]) -> None:
        if not toxics:
            self._enter_fast()
            return
        self.mode = "chain"
        for toxic in toxics:
            inp = Channel(BUFFER_SIZE.get(toxic.type, 1))
            if self.stubs:
                self.stubs[-1].output = inp
            else:
                self._in = inp
            self.stubs.append(Stub(toxic, inp, self.out))
        for stub in self.stubs:
            stub.run()
        self._set_reader(self._chain_read)

    def source_gone(self) -> None:
        """The source socket is about to be closed by the other direction: treat it as end of stream."""
        if self.mode == "done" or self.src_eof:
            return
        self._set_reader(None)
        self.src_eof = True
        if self.mode == "fast":
            if not self._pending:
                self._finish()
        else:
            self._in.force_put(EOF)

    def abort(self) -> None:
        """Stop everything now (connection closed by the API); does not call ``on_done``."""
        self.mode = "done"
        self._set_reader(None)
        self._set_writer(None)
        for stub in self.stubs:
            stub.kill()
        if self._writer is not asyncio.current_task():
            self._writer.cancel()
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None

    def _finish(self) -> None:
        if self.mode == "done":
            return
        self.abort()
        self._on_done(self)

    # ---- registrations ---------------------------------------------------------------------------
    def _set_reader(self, callback: Callable[[], None] | None) -> None:
        if self._reading:
            self.loop.remove_reader(self._src_fd)
            self._reading = False
        if callback is not None and not self.src_eof:
            self.loop.add_reader(self._src_fd, callback)
            self._reading = True

    def _set_writer(self, callback: Callable[[], None] | None) -> None:
        if self._writing:
            self.loop.remove_writer(self._dst_fd)
            self._writing = False
        if callback is not None:
            self.loop.add_writer(self._dst_fd, callback)
            self._writing = True

    # ---- fast path -------------------------------------------------------------------------------
    def _enter_fast(self) -> None:
        self.mode = "fast"
        if self._pipe is None:
            self._pipe = _pipe()
            self._pipe_size = fcntl.fcntl(self._pipe[1], fcntl.F_GETPIPE_SZ)
        if self.src_eof:
            self._finish()
            return
        self._set_reader(self._fast_read)

    def _fast_read(self) -> None:
        """Source readable: splice into the pipe while it has room and send at once; while everything
        goes out immediately, read again a few times before going back to the loop (fewer wake-ups)."""
        assert self._pipe is not None
        for _ in range(8):
            try:
                n = os.splice(self._src_fd, self._pipe[1], self._pipe_size - self._pending, flags=_SPLICE_FLAGS)
            except BlockingIOError:
                return
            except OSError:
                n = 0
            if n == 0:
                self._set_reader(None)
                self.src_eof = True
                if not self._pending:
                    self._finish()
                return
            self._pending += n
            if self._pending >= self._pipe_size:
                self._set_reader(None)
            if not self._writing:
                self._fast_write()
            if self._pending or not self._reading:
                return

    def _fast_write(self) -> None:
        """Destination writable (or new data): splice the pipe out; reading resumes when there is room."""
        assert self._pipe is not None
        try:
            n = os.splice(self._pipe[0], self._dst_fd, self._pending, flags=_SPLICE_FLAGS)
        except BlockingIOError:
            n = 0
        except OSError:
            self._finish()
            return
        self._pending -= n
        if self._pending and not self._writing:
            self._set_writer(self._fast_write)
        elif not self._pending and self._writing:
            self._set_writer(None)
        if self.src_eof:
            if not self._pending:
                self._finish()
        elif not self._reading and self._pending < self._pipe_size:
            self._set_reader(self._fast_read)

    def _leave_fast(self) -> None:
        """Stop splicing; bytes already in the pipe go to the writer ahead of everything else."""
        self._set_reader(None)
        self._set_writer(None)
        if self._pending and self._pipe is not None:
            parts = []
            while self._pending:
                part = os.read(self._pipe[0], self._pending)
                parts.append(part)
                self._pending -= len(part)
            self.out.force_put(Chunk(b"".join(parts), time.monotonic()))
        self.mode = "chain"

    # ---- toxic chain -----------------------------------------------------------------------------
    def _chain_read(self) -> None:
        try:
            data = self.src.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._set_reader(None)
            self.src_eof = True
            self._in.force_put(EOF)
            return
        self._in.force_put(Chunk(data, time.monotonic()))
        if self._in.full():
            self._set_reader(None)
            self._in.on_space = self._resume

    def _resume(self) -> None:
        if self.mode == "chain" and not self._reading:
            self._set_reader(self._chain_read)

    def _retarget_reader(self, chan: Channel) -> None:
        self._in.on_space = None
        self._in = chan
        if self.mode != "chain":
            return
        if chan.full():
            self._set_reader(None)
            chan.on_space = self._resume
        else:
            self._set_reader(self._chain_read)

    async def _write_loop(self) -> None:
        while True:
            self._busy = False
            if self.mode == "drain" and not self.out.items:
                self._enter_fast()
            item = await self.out.get()
            self._busy = True
            if item is None:
                self._finish()
                return
            if not await self._send(item.data):
                self._finish()
                return

    async def _send(self, data: bytes) -> bool:
        view = memoryview(data)
        while view:
            try:
                n = self.dst.send(view)
            except (BlockingIOError, InterruptedError):
                fut: asyncio.Future[None] = self.loop.create_future()
                self._set_writer(lambda f=fut: None if f.done() else f.set_result(None))  # type: ignore[misc]
                try:
                    await fut
                finally:
                    if self.mode != "done":
                        self._set_writer(None)
                continue
            except OSError:
                return False
            view = view[n:]
        return True

    # ---- live toxic changes (called with the proxy's toxic lock held) -----------------------------
    async def add_toxic(self, toxic: Toxic) -> None:
        if self.mode == "done":
            return
        if self.mode == "fast":
            self._leave_fast()
        inp = Channel(BUFFER_SIZE.get(toxic.type, 1))
        stub = Stub(toxic, inp, self.out)
        if not self.stubs:
            self.mode = "chain"
            self.stubs.append(stub)
            stub.run()
            self._retarget_reader(inp)
            if self.src_eof:
                inp.force_put(EOF)
            return
        last = self.stubs[-1]
        self.stubs.append(stub)
        if await last.interrupt():
            last.output = inp
            stub.run()
            last.run()
        else:
            stub.output = inp
            stub.close()

    async def update_toxic(self, index: int) -> None:
        if self.mode == "done" or index >= len(self.stubs):
            return
        stub = self.stubs[index]
        if await stub.interrupt():
            stub.run()

    async def remove_toxic(self, index: int) -> None:
        if self.mode == "done" or index >= len(self.stubs):
            return
        stub = self.stubs[index]
        if not await stub.interrupt():
            del self.stubs[index]
            return
        if stub.toxic.type == "timeout":  # Toxiproxy's CleanupToxic: removing a timeout closes the stream
            stub.close()
            del self.stubs[index]
            return
        prev = self.stubs[index - 1] if index > 0 else None
        if prev is not None:
            await prev.interrupt()
        for item in stub.input.take_all():
            stub.output.force_put(item)
        del self.stubs[index]
        if prev is not None:
            prev.output = stub.output
            if not prev.closed:
                prev.run()
        else:
            self._retarget_reader(stub.output)
        if not self.stubs and self.mode == "chain":
            self.mode = "drain"
            self._set_reader(None)
            if not self._busy and not self.out.items:
                self._enter_fast()
