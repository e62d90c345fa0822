"""``resilience run --dry-run`` on a Kubernetes target: exactly which pods the faults would hit.

Read-only: lists pods (GET) through the guarded target; deletes and patches nothing. Kill actions name
the pods ``plan_kill`` chooses — with ``seed`` set in the scenario's target options the real run makes the
same choice for the same pods, so the list is exact for the pods running now (pods replaced by an earlier
experiment get new names). Database faults name the primary pod they would delete or switch over from.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from resilience.errors import ResilienceError
from resilience.targets.base import Pod

__all__ = ["FaultPlanner", "kill_plan_lines"]


@runtime_checkable
class FaultPlanner(Protocol):
    """A target that can say which pods a fault would hit, without touching them."""

    def plan_kill(self, selector: str, *, count: int | None = None, percent: float | None = None) -> list[Pod]: ...

    def db_primary(self) -> str: ...

    def not_applicable(self, mode: str) -> str: ...


def _kill(target: FaultPlanner, args: dict[str, Any], seed: int | None) -> str:
    pods = target.plan_kill(str(args.get("selector", "")), count=args.get("count"), percent=args.get("percent"))
    how = f"seed {seed}" if seed is not None else "no seed: the run picks at random, set the target's seed"
    return f"would kill {', '.join(p.name for p in pods)} ({args.get('signal', 'SIGKILL')}; {how})"


def _db(text: str, target: FaultPlanner, _args: dict[str, Any], _seed: int | None) -> str:
    return text.format(target.db_primary())


_DB_FAULTS = {
    "crash_primary": "would delete primary pod {} at once (grace period 0)",
    "switchover_db": "would switch over from primary {} to the first ready replica",
}
_NOT_APPLICABLE = {
    "crash_patroni": "patroni-crash",
    "kill_primary_postmaster": "postmaster-kill",
}
"""Database faults the Kubernetes target refuses (ConfigError), by the failover mode they stand for."""


def _not_applicable(mode: str, target: FaultPlanner, _args: dict[str, Any], _seed: int | None) -> str:
    reason = target.not_applicable(mode) or f"{mode} has no CloudNativePG equivalent"
    return f"NOT APPLICABLE on Kubernetes, the run fails this experiment: {reason}"


def _fail_over(target: FaultPlanner, args: dict[str, Any], seed: int | None) -> str:
    mode = str(args.get("mode", "primary-crash"))
    func = {"primary-crash": "crash_primary", "switchover": "switchover_db"}.get(mode)
    if func is None:
        return _not_applicable(mode, target, args, seed)
    return _db(_DB_FAULTS[func], target, args, seed)


_PLANNERS: dict[tuple[str, str], Callable[[FaultPlanner, dict[str, Any], int | None], str]] = {
    ("resilience.faults.pods", "kill_pods"): _kill,
    ("resilience.faults.database", "fail_over_db"): _fail_over,
    **{("resilience.faults.database", func): functools.partial(_db, text) for func, text in _DB_FAULTS.items()},
    **{("resilience.faults.database", f): functools.partial(_not_applicable, m) for f, m in _NOT_APPLICABLE.items()},
}


def kill_plan_lines(
    target: FaultPlanner, experiments: Iterable[tuple[str, dict[str, Any]]], *, seed: int | None
) -> list[str]:
    """One line per pod-hitting action of each experiment's method: its victims now, or why not plannable."""
    lines = []
    for name, experiment in experiments:
        for activity in experiment.get("method") or []:
            provider = activity.get("provider") or {}
            planner = _PLANNERS.get((str(provider.get("module")), str(provider.get("func"))))
            if planner is None:
                continue
            label = f"  {name}/{activity.get('name', provider.get('func'))}"
            try:
                lines.append(f"{label}: {planner(target, dict(provider.get('arguments') or {}), seed)}")
            except ResilienceError as exc:
                lines.append(f"{label}: cannot plan: {exc}")
    return lines
