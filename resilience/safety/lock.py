"""One run per target at a time: an exclusive ``flock`` on ``<state dir>/run.lock``, with stale-lock detection.

The kernel drops a ``flock`` when its holder dies (even by SIGKILL), so a lock can never be stuck held by
a dead run. The file also names its holder (pid, process start time, command, results folder): a second
run is refused with a line saying who holds the target, and a run or cleanup that finds the name of a
dead holder in a free lock (pid gone, or reused by another process with a different start time) knows
the previous run was killed and reports it as stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

import psutil

from resilience.errors import TargetError

__all__ = ["Holder", "RunLock", "process_start_time"]


def process_start_time(pid: int) -> float | None:
    """The start time of process ``pid`` (epoch seconds), or None when there is no such process."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a target's run lock."""

    pid: int
    started: float
    """The holder process's start time: with the pid, it tells a live holder from a reused pid."""
    purpose: str
    command: str
    acquired: float
    results_dir: str | None = None

    def alive(self) -> bool:
        """The holder process still exists (same pid *and* same start time)."""
        now = process_start_time(self.pid)
        return now is not None and abs(now - self.started) < 1.0

    def describe(self) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(self.acquired))
        return f"{self.purpose} pid {self.pid} since {when} ({self.command})"


def _read(fd: int) -> Holder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 65536)
    if not raw.strip():
        return None
    try:
        doc = json.loads(raw)
        return Holder(
            pid=int(doc["pid"]),
            started=float(doc["started"]),
            purpose=str(doc["purpose"]),
            command=str(doc.get("command", "")),
            acquired=float(doc.get("acquired", 0.0)),
            results_dir=doc.get("results_dir"),
        )
    except (ValueError, KeyError, TypeError):
        return None


class RunLock:
    """``with RunLock(state_dir, "run", results_dir=...) as lock:`` — TargetError when the target is busy."""

    def __init__(self, state_dir: Path, purpose: str, *, results_dir: Path | None = None) -> None:
        self.path = state_dir / "run.lock"
        self.purpose, self.results_dir = purpose, results_dir
        self.stale: Holder | None = None
        """The dead holder named in the lock when we took it (its run was killed), or None."""
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise TargetError(self._busy(holder)) from None
        previous = _read(fd)
        self.stale = previous if previous is not None and not previous.alive() else None
        me = Holder(
            pid=os.getpid(),
            started=process_start_time(os.getpid()) or time.time(),
            purpose=self.purpose,
            command=" ".join(["resilience", *sys.argv[1:]])[:200],
            acquired=time.time(),
            results_dir=str(self.results_dir) if self.results_dir else None,
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(asdict(me)) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def _busy(self, holder: Holder | None) -> str:
        where = self.path.parent
        if holder is None:
            return f"target state {where} is locked by another resilience process ({self.path})"
        if holder.alive():
            return f"target state {where} is busy: {holder.describe()}; one run per target at a time"
        return (
            f"target state {where} is locked by a process that outlived {holder.describe()} "
            f"(it inherited {self.path}); stop it first"
        )

    def release(self) -> None:
        """Clear the holder's name and unlock (a clean exit leaves no stale name behind)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
