"""A per-process append-only file with a write buffer: the common part of the events file and the ledger."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import BinaryIO

__all__ = ["Appender"]


class Appender:
    """Appends bytes to ``<folder>/<prefix>-<host>-<pid><suffix>``; flushed every ``flush_s`` or 64 KiB."""

    def __init__(
        self,
        folder: Path,
        prefix: str,
        suffix: str,
        *,
        flush_s: float = 1.0,
        name: str | None = None,
        header: bytes = b"",
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / (name or f"{prefix}-{socket.gethostname()}-{os.getpid()}{suffix}")
        self._file: BinaryIO | None = self.path.open("ab")
        if header and self._file.tell() == 0:
            self._file.write(header)
            self._file.flush()
        self._buf = bytearray()
        self._flush_s = flush_s
        self._last_flush = time.monotonic()

    def _append(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) >= 65536 or time.monotonic() - self._last_flush >= self._flush_s:
            self.flush()

    def flush(self) -> None:
        """Write buffered records to the file."""
        if self._file is not None and self._buf:
            self._file.write(self._buf)
            self._file.flush()
            self._buf.clear()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close; later records are dropped. Idempotent."""
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
