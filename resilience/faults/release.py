"""Release faults: roll out a bad chat release, and roll it back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.context import RunContext
from resilience.faults.ledger import Fault, fault_ledger

__all__ = ["roll_back_release", "roll_out_release"]

_KEY = "release"


def roll_out_release(
    release: str = "bad-errors", timeout_s: float = 120.0, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Roll the chat replicas to ``release`` (``bad-errors``, ``bad-latency``, ``bad-readiness``, ...).

    A rollout that gets stuck (a replica never ready) raises; the rollback still restores the previous
    release.
    """
    context = RunContext.of(configuration)
    target = context.target
    previous = target.release()
    fault = Fault("release", _KEY, {"release": release, "previous": previous, "timeout_s": timeout_s})
    fault_ledger().apply_fault(
        target, fault, lambda: target.rollout(release, timeout=timeout_s), out_dir=context.out_dir
    )
    return {"release": release, "previous": previous}


def roll_back_release(timeout_s: float = 120.0, configuration: Mapping[str, Any] | None = None) -> str:
    """Roll back to the release before the bad one; return the release now running. Idempotent."""
    context = RunContext.of(configuration)
    target = context.target
    if fault_ledger().revert_fault(_KEY):
        return target.release()
    return target.rollback(timeout=timeout_s)
