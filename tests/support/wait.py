"""Wait for a condition, not for a time: poll a probe until it says yes, fail with its last answer at a bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from resilience.analysis.timeline import build_timeline

__all__ = ["acked", "wait_acked", "wait_until"]

T = TypeVar("T")


def wait_until(probe: Callable[[], T], done: Callable[[T], bool], timeout: float, interval: float = 0.1) -> T:
    """``probe()`` every ``interval`` s until ``done(value)``; that value. AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not reached within {timeout:.0f} s; last value: {value!r}")
        time.sleep(interval)


def acked(events_dir: Path) -> int:
    """Messages acked so far according to a load's events files (flushed every 0.5 s)."""
    return int(build_timeline(events_dir).summary["messages_acked"])


def wait_acked(events_dir: Path, n: int, timeout: float = 60) -> int:
    """Until the load's events record ``n`` acked messages; the count then."""
    return wait_until(lambda: acked(events_dir), lambda count: count >= n, timeout)
