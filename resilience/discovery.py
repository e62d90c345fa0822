"""What ``chaos discover resilience`` lists: every fault (action), probe and control of the extension.

Chaos Toolkit finds an extension's activities through a ``discover()`` function in its top package; this
module builds that answer with chaoslib's own helpers (``discover_activities`` reads each module's
``__all__`` and signatures). ``discover_system`` adds the running local target's status when one is up.
"""

from __future__ import annotations

from typing import Any

from chaoslib.discovery.discover import discover_activities, initialize_discovery_result

from resilience import __version__
from resilience.errors import ResilienceError

__all__ = ["CONTROL_MODULES", "FAULT_MODULES", "PROBE_MODULES", "discovery"]

FAULT_MODULES = (
    "resilience.faults",
    "resilience.faults.pods",
    "resilience.faults.network",
    "resilience.faults.database",
    "resilience.faults.release",
    "resilience.faults.nodes",
)
"""Modules whose public functions are Chaos Toolkit actions."""
PROBE_MODULES = (
    "resilience.probes.slo",
    "resilience.probes.health",
    "resilience.probes.integrity",
    "resilience.probes.prometheus",
    "resilience.probes.kube",
)
"""Modules whose public functions are Chaos Toolkit probes."""
CONTROL_MODULES = ("resilience.controls.load", "resilience.controls.safeguards", "resilience.controls.timeline")
"""Modules that are Chaos Toolkit controls (their public functions are the control hooks)."""


def discovery(discover_system: bool = True) -> dict[str, Any]:
    """The discovery document: the extension's activities and, with ``discover_system``, the local target."""
    result: dict[str, Any] = initialize_discovery_result("resilience", __version__, "resilience")
    for kind, modules in (("action", FAULT_MODULES), ("probe", PROBE_MODULES), ("control", CONTROL_MODULES)):
        for module in modules:
            result["activities"].extend(discover_activities(module, kind))
    if discover_system:
        result["system"] = _system()
    return result


def _system() -> dict[str, Any] | None:
    from resilience.context import RunContext  # noqa: PLC0415 - only when a system is asked for

    try:
        status = RunContext.of(None).target.status()
    except ResilienceError:
        return None  # no target running: discovery still lists the activities
    return {"target": status.target, "healthy": status.healthy, "components": [p.name for p in status.components]}
