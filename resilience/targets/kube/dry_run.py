"""``resilience run --dry-run`` on a Kubernetes target: exactly which pods the kill actions would hit.

Read-only: lists pods (GET) through the guarded target and calls ``plan_kill``; deletes nothing. With
``seed`` set in the scenario's target options the real run makes the same choice for the same pods, so
the list is exact for the pods running now (pods replaced by an earlier experiment get new names).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from resilience.errors import ResilienceError
from resilience.targets.base import Pod

__all__ = ["KillPlanner", "kill_plan_lines"]

_KILL = ("resilience.faults.pods", "kill_pods")


class KillPlanner(Protocol):
    """A target that can say which pods a kill would hit."""

    def plan_kill(self, selector: str, *, count: int | None = None, percent: float | None = None) -> list[Pod]: ...


def _kill_actions(experiment: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for activity in experiment.get("method") or []:
        provider = activity.get("provider") or {}
        if (provider.get("module"), provider.get("func")) == _KILL:
            found.append((str(activity.get("name", "kill")), dict(provider.get("arguments") or {})))
    return found


def kill_plan_lines(
    target: KillPlanner, experiments: Iterable[tuple[str, dict[str, Any]]], *, seed: int | None
) -> list[str]:
    """One line per kill action: the pods it would delete now, or why it could not be planned."""
    lines = []
    for name, experiment in experiments:
        for action, args in _kill_actions(experiment):
            selector = str(args.get("selector", ""))
            try:
                pods = target.plan_kill(selector, count=args.get("count"), percent=args.get("percent"))
            except ResilienceError as exc:
                lines.append(f"  {name}/{action}: cannot plan: {exc}")
                continue
            names = ", ".join(p.name for p in pods)
            how = f"seed {seed}" if seed is not None else "no seed: the run picks at random, set the target's seed"
            lines.append(f"  {name}/{action}: would kill {names} ({args.get('signal', 'SIGKILL')}; {how})")
    return lines
