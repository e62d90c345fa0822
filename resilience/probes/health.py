"""Health probes: pods ready, a DB leader with a synchronous replica, read-write routing to the leader."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.context import RunContext
from resilience.errors import ResilienceError

__all__ = ["db_healthy", "pods_ready", "target_healthy", "wait_db_healthy", "wait_pods_ready"]


def pods_ready(
    selector: str = "app=chat-api", min_ready: int | None = None, configuration: Mapping[str, Any] | None = None
) -> bool:
    """Whether the pods matching ``selector`` are ready (all of them, or at least ``min_ready``)."""
    pods = RunContext.of(configuration).target.pods(selector)
    ready = sum(1 for p in pods if p.ready)
    if min_ready is not None:
        return ready >= min_ready
    return bool(pods) and ready == len(pods)


def wait_pods_ready(
    selector: str = "app=chat-api", timeout_s: float = 60.0, configuration: Mapping[str, Any] | None = None
) -> float:
    """Wait until every pod matching ``selector`` is ready; the seconds waited."""
    return RunContext.of(configuration).target.wait_ready(selector, timeout=timeout_s)


def db_healthy(configuration: Mapping[str, Any] | None = None) -> bool:
    """A leader with a synchronous replica, and the read-write entry point routes to the leader."""
    try:
        RunContext.of(configuration).target.wait_db_healthy(timeout=2.0)
    except ResilienceError:
        return False
    return True


def wait_db_healthy(timeout_s: float = 60.0, configuration: Mapping[str, Any] | None = None) -> float:
    """Wait for a leader with a synchronous replica and read-write routing to it; the seconds waited."""
    return RunContext.of(configuration).target.wait_db_healthy(timeout=timeout_s)


def target_healthy(configuration: Mapping[str, Any] | None = None) -> bool:
    """Whether every component of the target is healthy."""
    return RunContext.of(configuration).target.status().healthy
