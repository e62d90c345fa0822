"""Release faults: roll out a bad chat release, and roll it back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.faults._context import OUT_DIR, config_path, target_from
from resilience.faults._ledger import Fault, ledger
from resilience.targets.base import Target

__all__ = ["roll_back_release", "roll_out_release"]

_KEY = "release"


def _revert_release(target: Target, params: Mapping[str, Any]) -> None:
    if target.release() != params["previous"]:
        target.rollback(timeout=float(params.get("timeout_s", 120.0)))


def _verify_release(target: Target, params: Mapping[str, Any]) -> bool:
    return bool(target.release() == params["previous"])


ledger.register_kind("release", _revert_release, verify=_verify_release)


def roll_out_release(
    release: str = "bad-errors", timeout_s: float = 120.0, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Roll the chat replicas to ``release`` (``bad-errors``, ``bad-latency``, ``bad-readiness``, ...).

    A rollout that gets stuck (a replica never ready) raises; the rollback still restores the previous
    release.
    """
    target = target_from(configuration)
    previous = target.release()
    fault = Fault("release", _KEY, {"release": release, "previous": previous, "timeout_s": timeout_s})
    out = config_path(configuration, OUT_DIR, required=False)
    ledger.apply_fault(target, fault, lambda: target.rollout(release, timeout=timeout_s), out_dir=out)
    return {"release": release, "previous": previous}


def roll_back_release(timeout_s: float = 120.0, configuration: Mapping[str, Any] | None = None) -> str:
    """Roll back to the release before the bad one; return the release now running. Idempotent."""
    target = target_from(configuration)
    if ledger.revert_fault(_KEY):
        return target.release()
    return target.rollback(timeout=timeout_s)
