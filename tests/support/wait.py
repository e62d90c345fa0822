"""Wait for a condition, not for a time: poll a probe until it says yes, fail with its last answer at a bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

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
