"""``resilience run --dry-run`` on a Kubernetes target: exactly what each fault would touch.

Read-only: lists pods and reads the Deployment/Cluster (GET) through the guarded target; deletes and
patches nothing, sends nothing to Toxiproxy. Kill actions name the pods ``plan_kill`` chooses: with
``seed`` set in the scenario's target options the real run makes the same choice for the same pods, so
the list is exact for the pods running now (pods replaced by an earlier experiment get new names).
Database faults name the primary pod they would delete or switch over from; network faults the
Toxiproxy proxy and toxic; releases and deploys the chat Deployment or Argo Rollout (whichever the cluster
runs now), the release change and the strategy, or why the deploy is not applicable there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from resilience.errors import ResilienceError
from resilience.targets.base import Pod
from resilience.targets.kube.applicability import DB_MODES, deploy_expectations
from resilience.targets.kube.nodes import choose_drain_node, node_target

__all__ = ["FaultPlanner", "kill_plan_lines"]


@runtime_checkable
class FaultPlanner(Protocol):
    """A target that can say what a fault would touch, without touching it."""

    def plan_kill(self, selector: str, *, count: int | None = None, percent: float | None = None) -> list[Pod]: ...

    def db_primary(self) -> str: ...

    def not_applicable(self, mode: str) -> str: ...

    def proxies(self) -> dict[str, str]: ...

    def release(self) -> str: ...

    def describe_chat(self) -> str: ...

    def deploy_not_applicable(self, strategy: str, *, system_rollback: bool, analysis: bool) -> str: ...

    chat_deployment: str

    @property
    def toxiproxy_service(self) -> str: ...


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


def _not_applicable(mode: str, target: FaultPlanner, _args: dict[str, Any], _seed: int | None) -> str:
    reason = target.not_applicable(mode) or f"{mode} has no CloudNativePG equivalent"
    return f"NOT APPLICABLE on Kubernetes, the run skips this experiment (verdict not_applicable): {reason}"


def _fail_over(target: FaultPlanner, args: dict[str, Any], seed: int | None) -> str:
    mode = str(args.get("mode", "primary-crash"))
    func = {"primary-crash": "crash_primary", "switchover": "switchover_db"}.get(mode)
    if func is None:
        return _not_applicable(mode, target, args, seed)
    return _db(_DB_FAULTS[func], target, args, seed)


def _drain(target: FaultPlanner, args: dict[str, Any], _seed: int | None) -> str:
    _scope, api = node_target(target).node_access()
    selector = str(args.get("pod_selector", "app=chat-api"))
    node = choose_drain_node(
        api.list_nodes(),
        api.list_pods(selector),
        api.list_pods("app=postgres,role=primary"),
        node=str(args.get("node", "")),
    )
    on = sorted(p["metadata"]["name"] for p in api.list_pods(selector) if (p.get("spec") or {}).get("nodeName") == node)
    return (
        f"would cordon node {node} and evict its pods ({selector}: {', '.join(on) or 'none'}; every other pod on it "
        "but DaemonSets') through chaostoolkit-kubernetes; uncordoned in the rollbacks"
    )


def _proxy(target: FaultPlanner, args: dict[str, Any]) -> str:
    dependency = str(args.get("dependency", "redis"))
    proxy = target.proxies().get(dependency)
    if proxy is None:
        raise ResilienceError(f"unknown dependency {dependency!r} (proxies: {', '.join(sorted(target.proxies()))})")
    return f"Toxiproxy proxy {proxy!r} ({target.toxiproxy_service}; chat's path to {dependency})"


def _for(args: dict[str, Any], undo: str) -> str:
    duration = args.get("duration_s")
    return f" for {duration:g} s, then {undo}" if duration is not None else " until the experiment's rollback"


def _toxic(kind: str, target: FaultPlanner, args: dict[str, Any], _seed: int | None) -> str:
    stream = args.get("stream", "downstream")
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(args.items()) if k not in {"dependency", "stream", "duration_s"})
    return (
        f"would add a {kind} toxic ({attrs or 'defaults'}; {stream}) to {_proxy(target, args)}{_for(args, 'removed')}"
    )


def _down(target: FaultPlanner, args: dict[str, Any], _seed: int | None) -> str:
    return f"would disable {_proxy(target, args)}: listener and open connections closed{_for(args, 're-enabled')}"


def _up(target: FaultPlanner, args: dict[str, Any], _seed: int | None) -> str:
    return f"would re-enable {_proxy(target, args)} (no-op when enabled)"


def _redis_outage(target: FaultPlanner, args: dict[str, Any], seed: int | None) -> str:
    return _down(target, {**args, "dependency": "redis"}, seed)


def _roll_out(target: FaultPlanner, args: dict[str, Any], _seed: int | None) -> str:
    release = args.get("release", "?")
    return (
        f"would merge-patch {target.describe_chat()}: release {target.release()!r} -> {release!r} "
        "(its own update strategy; the current ReplicaSet is recorded for the rollback)"
    )


def _roll_back(target: FaultPlanner, _args: dict[str, Any], _seed: int | None) -> str:
    return (
        f"would merge-patch {target.describe_chat()} back to the ReplicaSet recorded before the "
        f"harness's rollout (release now {target.release()!r}; no-op when nothing was rolled out)"
    )


_FOLLOW = {
    "rolling": "one new pod at a time, none unavailable; follows observedGeneration, updatedReplicas and "
    "availableReplicas until complete, "
    "halted at the progress deadline",
    "blue-green": "preview ReplicaSet, active Service switch, post-promotion analysis; follows status.phase until "
    "Healthy (completed) or Degraded/aborted (rolled back by Argo Rollouts), halted at the timeout",
}


def _deploy_line(target: FaultPlanner, func: str, args: dict[str, Any]) -> tuple[str, str]:
    """(the NOT APPLICABLE line or '', what the patch would be)."""
    strategy, system_rollback, analysis = deploy_expectations(func, args)
    why = target.deploy_not_applicable(strategy, system_rollback=system_rollback, analysis=analysis)
    if why:
        return f"NOT APPLICABLE on Kubernetes, the run skips this experiment (verdict not_applicable): {why}", ""
    return "", f"would merge-patch {target.describe_chat()}"


def _deploy(target: FaultPlanner, args: dict[str, Any], _seed: int | None) -> str:
    not_applicable, patch = _deploy_line(target, "deploy_release", args)
    if not_applicable:
        return not_applicable
    strategy = str(args.get("strategy", "rolling"))
    return (
        f"{patch}: release {target.release()!r} -> {args.get('release', 'good')!r} ({strategy}: {_FOLLOW[strategy]}; "
        f"expects {args.get('expect', 'completed')})"
    )


def _deploy_train(target: FaultPlanner, args: dict[str, Any], _seed: int | None) -> str:
    not_applicable, patch = _deploy_line(target, "deploy_train", args)
    if not_applicable:
        return not_applicable
    strategy, count, bad_at = (
        str(args.get("strategy", "rolling")),
        int(args.get("count", 10)),
        int(args.get("bad_at", 5)),
    )
    bad = f", deploy {bad_at} of {args.get('bad_release', 'bad-errors')!r} (expects rolled_back)" if bad_at else ""
    return (
        f"{patch} {count} times: release {target.release()!r} -> 'good' each time (a new revision){bad} "
        f"({strategy}: {_FOLLOW[strategy]})"
    )


_PLANNERS: dict[tuple[str, str], Callable[[FaultPlanner, dict[str, Any], int | None], str]] = {
    ("resilience.faults.pods", "kill_pods"): _kill,
    ("resilience.faults.database", "fail_over_db"): _fail_over,
    ("resilience.faults.network", "take_down"): _down,
    ("resilience.faults.network", "bring_up"): _up,
    ("resilience.faults.network", "redis_outage"): _redis_outage,
    ("resilience.faults.release", "roll_out_release"): _roll_out,
    ("resilience.faults.release", "roll_back_release"): _roll_back,
    ("resilience.faults.deploys", "deploy_release"): _deploy,
    ("resilience.faults.deploys", "deploy_train"): _deploy_train,
    **{
        ("resilience.faults.network", func): functools.partial(_toxic, kind)
        for func, kind in {
            "add_latency": "latency",
            "add_jitter": "latency",
            "limit_bandwidth": "bandwidth",
            "add_timeout": "timeout",
            "reset_connections": "reset_peer",
        }.items()
    },
    **{("resilience.faults.database", func): functools.partial(_db, text) for func, text in _DB_FAULTS.items()},
    **{("resilience.faults.database", f): functools.partial(_not_applicable, m) for f, m in DB_MODES.items()},
    ("resilience.faults.nodes", "drain_node"): _drain,
}


def kill_plan_lines(
    target: FaultPlanner, experiments: Iterable[tuple[str, dict[str, Any]]], *, seed: int | None
) -> list[str]:
    """One line per fault action of each experiment's method: what it would touch now, or why it cannot say.

    A fault the table does not know is listed as such (never silently left out)."""
    lines = []
    for name, experiment in experiments:
        for activity in experiment.get("method") or []:
            provider = activity.get("provider") or {}
            module, func = str(provider.get("module")), str(provider.get("func"))
            planner = _PLANNERS.get((module, func))
            label = f"  {name}/{activity.get('name', func)}"
            if planner is None:
                if module.startswith("resilience.faults"):
                    lines.append(f"{label}: {module}.{func}: the dry run cannot say what it would touch")
                continue
            try:
                lines.append(f"{label}: {planner(target, dict(provider.get('arguments') or {}), seed)}")
            except ResilienceError as exc:
                lines.append(f"{label}: cannot plan: {exc}")
    return lines
