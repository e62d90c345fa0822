"""chaostoolkit-kubernetes' node actions, called with the connection the safety guard checked
(``resilience.targets.kube.nodes.guarded_secrets``: the client chaosk8s builds must reach the guarded
API server, or nothing is sent)."""

from __future__ import annotations

from typing import Any

from chaosk8s.node.actions import drain_nodes, uncordon_node

from resilience.targets.base import Target
from resilience.targets.kube.nodes import chaosk8s_call, guarded_secrets, node_target

__all__ = ["drain", "guarded_secrets", "is_cordoned", "uncordon"]


def drain(node: str, timeout_s: int, secrets: dict[str, Any]) -> list[str]:
    """Cordon ``node`` and evict its pods (chaosk8s ``drain_nodes``: DaemonSet pods stay, pods with an
    emptyDir are evicted too, as ``kubectl drain --delete-emptydir-data``); wait up to ``timeout_s``.
    ``secrets``: from ``guarded_secrets``."""
    return chaosk8s_call(
        f"drain node {node}",
        lambda: drain_nodes(name=node, delete_pods_with_local_storage=True, timeout=timeout_s, secrets=secrets),
    )


def uncordon(target: Target, node: str) -> None:
    """Make ``node`` schedulable again (chaosk8s ``uncordon_node``); idempotent."""
    secrets = guarded_secrets(target)
    chaosk8s_call(f"uncordon node {node}", lambda: uncordon_node(name=node, secrets=secrets))


def is_cordoned(target: Target, node: str) -> bool:
    """Whether ``node`` is unschedulable now (read through the target's own API)."""
    _scope, api = node_target(target).node_access()
    nodes = {n["metadata"]["name"]: n for n in api.list_nodes()}
    return bool((nodes.get(node, {}).get("spec") or {}).get("unschedulable"))
