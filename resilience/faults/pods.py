"""Pod faults: kill replicas of a component (a pod on Kubernetes, a supervised process locally)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.context import RunContext
from resilience.errors import ConfigError
from resilience.faults.ledger import Fault, fault_ledger

__all__ = ["kill_pods"]


def kill_pods(
    selector: str,
    count: int | None = None,
    percent: float | None = None,
    signal: str = "SIGKILL",
    configuration: Mapping[str, Any] | None = None,
) -> list[str]:
    """Kill ``count`` (or ``percent`` %) of the pods matching ``selector`` at random; return their names.

    The replicas come back on their own (supervisor, Deployment): there is nothing to revert.
    """
    if count is not None and percent is not None:
        raise ConfigError("give count or percent, not both")
    if count is None and percent is None:
        count = 1
    if count is not None and count < 1:
        raise ConfigError(f"count must be >= 1, not {count}")
    if percent is not None and not 0 < percent <= 100:
        raise ConfigError(f"percent must be within (0, 100], not {percent}")
    context = RunContext.of(configuration)
    target = context.target
    fault = Fault(
        "instant", f"kill:{selector}", {"selector": selector, "count": count, "percent": percent, "signal": signal}
    )
    victims = fault_ledger().apply_fault(
        target,
        fault,
        lambda: target.kill(selector, count=count, percent=percent, signal=signal),
        out_dir=context.out_dir,
    )
    return [pod.name for pod in victims]
