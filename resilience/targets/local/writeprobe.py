"""A steady writer through a libpq URL, to measure write unavailability and acknowledged-row loss.

``WriteProbe`` inserts one numbered row every ``interval`` seconds from a thread, reconnecting and retrying
the same number after an error (so an ack lost in a crash shows as a duplicate, never as a gap). After a
fault, ``outage(t)`` is the write unavailability around ``t`` and ``lost()`` the acknowledged numbers that
are not in the table.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass, field

import psycopg

__all__ = ["WriteProbe", "outage_around"]

_TABLE = "resilience_write_probe"


def outage_around(ok_times: list[float], t: float) -> float | None:
    """The longest gap between two successive successful writes, the later one after ``t`` (the fault
    starts at ``t``; the writer is stopped soon after recovery); None when no write succeeded after ``t``."""
    i = bisect.bisect_right(ok_times, t)
    if i == len(ok_times):
        return None
    return max(b - a for a, b in zip(ok_times[max(i - 1, 0) :], ok_times[max(i, 1) :], strict=False))


@dataclass
class WriteProbe:
    """Numbered inserts through ``url`` (e.g. the HAProxy read-write endpoint) until ``stop()``."""

    url: str
    interval: float = 0.02
    acked: list[int] = field(default_factory=list)
    ok_times: list[float] = field(default_factory=list)
    errors: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> WriteProbe:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} (n bigint NOT NULL)")
            conn.execute(f"TRUNCATE {_TABLE}")
        self._thread = threading.Thread(target=self._run, name="write-probe", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        conn: psycopg.Connection[tuple[int]] | None = None
        n = 0
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
                conn.execute(f"INSERT INTO {_TABLE} (n) VALUES (%s)", (n,))  # noqa: S608 - constant name
                self.acked.append(n)
                self.ok_times.append(time.time())
                n += 1
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def wait_writes_after(self, t: float, timeout: float) -> bool:
        """Wait until a write succeeded after epoch ``t``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ok_times and self.ok_times[-1] > t:
                return True
            time.sleep(0.05)
        return False

    def outage(self, t: float) -> float | None:
        return outage_around(list(self.ok_times), t)

    def lost(self, timeout: float = 30.0) -> list[int]:
        """Acknowledged numbers missing from the table (read through the same URL).

        The read is retried on connection errors for up to ``timeout`` seconds: right after a failover the
        load balancer may still hand one connection to a server that is going away, and a check that reads
        the table once must not fail on that (the outage itself is what ``outage`` measures).
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    present = {row[0] for row in conn.execute(f"SELECT n FROM {_TABLE}")}  # noqa: S608
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        return [n for n in self.acked if n not in present]
