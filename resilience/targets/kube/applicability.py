"""Which fault actions a target cannot run at all (not applicable), from the action alone, read-only.

The runner asks before an experiment starts: an experiment with such an action is reported NOT
APPLICABLE (verdict ``not_applicable``) and skipped, instead of failing on the target's refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.errors import ResilienceError
from resilience.targets.base import Deployer
from resilience.targets.kube.nodes import NodeTarget

__all__ = ["DB_MODES", "deploy_expectations", "fault_not_applicable"]

DB_MODES = {"crash_patroni": "patroni-crash", "kill_primary_postmaster": "postmaster-kill"}
"""Database fault functions by the failover mode they stand for (fail_over_db names its mode)."""


def fault_not_applicable(target: object, module: str, func: str, arguments: Mapping[str, Any]) -> str:
    """Why ``module.func(**arguments)`` cannot run on ``target`` ('' when it can, or when unknown)."""
    name = getattr(target, "name", "?")
    if module == "resilience.faults.nodes" and not isinstance(target, NodeTarget):
        return f"target {name} has no Kubernetes nodes to drain (kind and staging have)"
    if module == "resilience.faults.deploys":
        return _deploy_not_applicable(target, func, arguments)
    if module == "resilience.faults.database":
        mode = str(arguments.get("mode", "primary-crash")) if func == "fail_over_db" else DB_MODES.get(func, "")
        why = getattr(target, "not_applicable", None)
        if mode and callable(why):
            return str(why(mode) or "")
    return ""


def deploy_expectations(func: str, arguments: Mapping[str, Any]) -> tuple[str, bool, bool]:
    """(strategy, whether the system must roll back by itself, whether the experiment brings its own analysis)
    of a ``resilience.faults.deploys`` action."""
    strategy = str(arguments.get("strategy", "rolling"))
    if func == "deploy_train":
        return strategy, int(arguments.get("bad_at", 5)) > 0, False
    return strategy, arguments.get("expect", "completed") == "rolled_back", arguments.get("analysis") is not None


def _deploy_not_applicable(target: object, func: str, arguments: Mapping[str, Any]) -> str:
    if not isinstance(target, Deployer):
        return f"target {getattr(target, 'name', '?')} has no deploy machinery the harness drives (Deployer.deploy)"
    why = getattr(target, "deploy_not_applicable", None)
    if not callable(why):
        return ""
    strategy, system_rollback, analysis = deploy_expectations(func, arguments)
    try:
        return str(why(strategy, system_rollback=system_rollback, analysis=analysis) or "")
    except ResilienceError:  # the API did not answer: the deploy itself will say so
        return ""
