"""The event recorder: every request and WebSocket event, one fixed-size binary record each.

Each load process appends to its own file ``events-<host>-<pid>.bin`` in the events directory: an
8-byte magic header, then 16-byte little-endian records ``(t: float64 epoch s, kind: uint8, ok: uint8,
status: uint16, value: float32)``. ``t`` is ``time.time()`` at the moment the event completed (the wall
clock that faults use); ``value`` is a latency in milliseconds for timed kinds and a count otherwise.
A file cut short by a crash loses at most its unflushed tail; a torn last record is ignored on read.

This module is the one reader and writer of the format: imported by both sides (the locust processes
write, the harness reads), it imports nothing heavy at start-up (numpy only when an array is read).
"""

from __future__ import annotations

import enum
import logging
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resilience.load._appender import Appender

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "FIELDS",
    "MAGIC",
    "RECORD",
    "Event",
    "EventTail",
    "EventWriter",
    "Kind",
    "Raw",
    "iter_events",
    "read_event_array",
    "read_events",
]

log = logging.getLogger(__name__)

MAGIC = b"RSEVT001"
"""First bytes of every events file (format version 1)."""
RECORD = struct.Struct("<dBBHf")
"""One event: time, kind, ok, status, value."""
FIELDS: list[tuple[str, str]] = [("t", "<f8"), ("kind", "u1"), ("ok", "u1"), ("status", "<u2"), ("value", "<f4")]
"""The same record as a numpy dtype description (``numpy.dtype(FIELDS)``), for readers of whole files."""
Raw = tuple[float, int, int, int, float]
"""One record as a tuple: (t epoch s, kind, ok, status, value)."""


class Kind(enum.IntEnum):
    """What an event measures."""

    ACK = 1
    """WebSocket send -> ack; value = latency ms; status = error code when ok=0 (0: timeout / no answer)."""
    REST_SEND = 2
    """REST POST of a message; value = latency ms; status = HTTP status (0: no response)."""
    REST_HISTORY = 3
    """REST history read; value = latency ms; status = HTTP status (0: no response)."""
    DELIVERY = 4
    """A message pushed to a connected client; value = send -> delivery latency ms."""
    WS_CONNECT = 5
    """A WebSocket connect attempt finished (ok=1: open, ready); value = handshake latency ms."""
    WS_CLOSE = 6
    """An open WebSocket closed or dropped; status = close code (0: unknown / network)."""
    RECONNECT = 7
    """A client starts reconnecting after a drop; value = backoff delay ms."""
    AUTH = 8
    """A token request; value = latency ms; status = HTTP status (0: no response)."""


REQUEST_KINDS = frozenset({Kind.ACK, Kind.REST_SEND, Kind.REST_HISTORY})
"""Kinds that count as requests in throughput, error rate and the API percentiles."""


@dataclass(frozen=True, slots=True)
class Event:
    """One decoded record."""

    t: float
    kind: int
    ok: bool
    status: int
    value: float


class EventWriter(Appender):
    """Appends records to this process's events file; buffered, flushed every ``flush_s`` or 64 KiB."""

    def __init__(self, events_dir: Path, *, flush_s: float = 1.0, name: str | None = None) -> None:
        super().__init__(events_dir, "events", ".bin", flush_s=flush_s, name=name, header=MAGIC)

    def record(
        self, kind: Kind, *, ok: bool = True, status: int = 0, value: float = 0.0, t: float | None = None
    ) -> None:
        """Append one event stamped ``t`` (default: now, wall clock)."""
        self._append(
            RECORD.pack(time.time() if t is None else t, kind, 1 if ok else 0, max(0, min(status, 0xFFFF)), value)
        )


def _iter_file(path: Path) -> Iterator[tuple[float, int, int, int, float]]:
    data = path.read_bytes()
    if len(data) < len(MAGIC) and MAGIC.startswith(data):
        return  # just created: the header is being written
    if not data.startswith(MAGIC):
        raise ValueError(f"{path}: not an events file (bad magic)")
    body = memoryview(data)[len(MAGIC) :]
    whole = len(body) - len(body) % RECORD.size
    yield from RECORD.iter_unpack(body[:whole])


def iter_events(events_dir: Path) -> Iterator[tuple[float, int, int, int, float]]:
    """Every raw record ``(t, kind, ok, status, value)`` of every events file, file by file (unsorted)."""
    for path in sorted(events_dir.glob("events-*.bin")):
        yield from _iter_file(path)


def read_events(events_dir: Path) -> list[Event]:
    """Every event of every file in the directory, sorted by time (for tests and small runs)."""
    return sorted((Event(t, k, bool(ok), s, v) for t, k, ok, s, v in iter_events(events_dir)), key=lambda e: e.t)


class EventTail:
    """Incremental reader of every ``events-*.bin`` file in a folder, for watchers that poll (safeguards,
    ``wait_for_slo``): each poll reads only the bytes appended since the last one."""

    def __init__(self, events_dir: Path) -> None:
        self.events_dir = events_dir
        self._offsets: dict[Path, int] = {}

    def poll(self) -> list[Raw]:
        """Records appended since the last poll (whole records only; a torn tail waits for the next poll)."""
        out: list[Raw] = []
        for path in sorted(self.events_dir.glob("events-*.bin")):
            offset = self._offsets.get(path, len(MAGIC))
            try:
                with path.open("rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except OSError:
                continue
            whole = len(data) - len(data) % RECORD.size
            if whole:
                out.extend(RECORD.iter_unpack(data[:whole]))
                self._offsets[path] = offset + whole
        return out


def read_event_array(events_dir: Path, *, strict: bool = True) -> npt.NDArray[np.void]:
    """Every record of every events file in the directory as one numpy record array (file order).

    A file without the magic header raises ValueError, or is left out with a warning when not ``strict``;
    a file still being created and a torn last record are skipped.
    """
    import numpy as np  # noqa: PLC0415 - the load processes import this module and never read arrays

    dtype = np.dtype(FIELDS)
    parts: list[Any] = []
    for path in sorted(events_dir.glob("events-*.bin")):
        data = path.read_bytes()
        if len(data) < len(MAGIC) and MAGIC.startswith(data):
            continue  # just created: the header is being written
        if not data.startswith(MAGIC):
            if strict:
                raise ValueError(f"{path}: not an events file (bad magic)")
            log.warning("%s: not an events file (bad magic); left out", path)
            continue
        count = (len(data) - len(MAGIC)) // dtype.itemsize
        parts.append(np.frombuffer(data, dtype=dtype, count=count, offset=len(MAGIC)))
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
