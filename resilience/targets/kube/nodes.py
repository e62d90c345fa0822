"""Nodes: which node a drain empties (pure), and the guarded connection as chaostoolkit-kubernetes secrets.

The drain itself is chaostoolkit-kubernetes' ``drain_nodes`` (resilience.faults.nodes). It builds its own
client from ``secrets`` (and the environment), so the target hands it the connection the safety guard
checked, and the fault verifies that the client it builds reaches that same API server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, runtime_checkable

import urllib3
from chaosk8s import create_k8s_api_client
from chaoslib.exceptions import ActivityFailed
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from resilience.errors import ConfigError, FaultError, TargetError
from resilience.safety.kube_guard import KubeScope
from resilience.targets.kube.api import IN_CLUSTER, KubeApi

__all__ = [
    "CONTROL_PLANE",
    "NodeTarget",
    "chaosk8s_call",
    "chaosk8s_secrets",
    "choose_drain_node",
    "guarded_secrets",
    "node_target",
]

Json = dict[str, Any]
T = TypeVar("T")

CONTROL_PLANE = "node-role.kubernetes.io/control-plane"


@runtime_checkable
class NodeTarget(Protocol):
    """A target with Kubernetes nodes (kind, staging)."""

    name: str

    def node_access(self) -> tuple[KubeScope, KubeApi]: ...


def _node_of(pod: Json) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def choose_drain_node(nodes: list[Json], pods: list[Json], primary_pods: list[Json], *, node: str = "") -> str:
    """The node to drain: ``node`` when given, else the schedulable worker hosting the most ``pods`` and
    no PostgreSQL primary (CloudNativePG's primary PodDisruptionBudget refuses its eviction), by name on ties.

    ConfigError for an unknown, control-plane or already cordoned ``node``; TargetError when no worker fits.
    """
    by_name = {str(n["metadata"]["name"]): n for n in nodes}
    primary_nodes = {_node_of(p) for p in primary_pods}
    if node:
        found = by_name.get(node)
        if found is None:
            raise ConfigError(f"drain_node: node {node!r} not found (have: {', '.join(sorted(by_name)) or 'none'})")
        if CONTROL_PLANE in (found["metadata"].get("labels") or {}):
            raise ConfigError(f"drain_node: node {node!r} is a control-plane node; name a worker")
        if (found.get("spec") or {}).get("unschedulable"):
            raise ConfigError(f"drain_node: node {node!r} is already cordoned (someone else's maintenance?)")
        return node
    counts: dict[str, int] = {}
    for pod in pods:
        counts[_node_of(pod)] = counts.get(_node_of(pod), 0) + 1
    workers = [
        name
        for name, n in by_name.items()
        if CONTROL_PLANE not in (n["metadata"].get("labels") or {})
        and not (n.get("spec") or {}).get("unschedulable")
        and name not in primary_nodes
        and counts.get(name, 0) > 0
    ]
    if not workers:
        raise TargetError(
            "drain_node: no schedulable worker node hosts the selected pods without the PostgreSQL primary "
            f"(nodes: {', '.join(sorted(by_name)) or 'none'}; primary on {', '.join(sorted(primary_nodes)) or '?'})"
        )
    return min(workers, key=lambda name: (-counts[name], name))


def chaosk8s_secrets(scope: KubeScope, configuration: client.Configuration) -> dict[str, Any]:
    """The guarded connection as the secrets chaostoolkit-kubernetes' ``create_k8s_api_client`` reads: the
    context (when it loads a kubeconfig) and the server and credentials (when it does not)."""
    secrets: dict[str, Any] = {"KUBERNETES_HOST": configuration.host, "KUBERNETES_VERIFY_SSL": configuration.verify_ssl}
    if scope.context != IN_CLUSTER:
        secrets["KUBERNETES_CONTEXT"] = scope.context
    token = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get("BearerToken")
    if token:
        prefix, _, value = str(token).partition(" ")
        secrets["KUBERNETES_API_KEY"] = value or prefix
        secrets["KUBERNETES_API_KEY_PREFIX"] = prefix if value else "Bearer"
    elif configuration.cert_file:
        secrets["KUBERNETES_CERT_FILE"] = configuration.cert_file
        secrets["KUBERNETES_KEY_FILE"] = configuration.key_file
    if configuration.ssl_ca_cert:
        secrets["KUBERNETES_CA_CERT_FILE"] = configuration.ssl_ca_cert
    return secrets


def node_target(target: object) -> NodeTarget:
    """``target`` as a NodeTarget; FaultError (not applicable) for a target without nodes (local)."""
    if not isinstance(target, NodeTarget):
        name = getattr(target, "name", type(target).__name__)
        raise FaultError(f"target {name!r} has no Kubernetes nodes: not applicable")
    return target


def chaosk8s_call(what: str, fn: Callable[[], T]) -> T:
    """Call into chaostoolkit-kubernetes; its failures become one-line FaultErrors naming ``what``."""
    try:
        return fn()
    except (ActivityFailed, ApiException, ConfigException, urllib3.exceptions.HTTPError, OSError) as exc:
        detail = " ".join(str(exc).split())
        raise FaultError(f"{what}: {detail[:300]}") from exc


def guarded_secrets(target: object) -> dict[str, Any]:
    """The target's guarded connection as chaosk8s secrets, once the client chaosk8s builds from them is
    known to reach the same API server (FaultError otherwise: nothing is sent to another cluster).

    chaosk8s prefers a kubeconfig on $KUBECONFIG or ~/.kube/config over the secrets' server, so the check
    compares what it would really use."""
    scope, api = node_target(target).node_access()
    secrets = chaosk8s_secrets(scope, api.api_client.configuration)
    built = chaosk8s_call("chaostoolkit-kubernetes client", lambda: create_k8s_api_client(secrets))
    host = str(built.configuration.host).rstrip("/")
    built.close()  # type: ignore[no-untyped-call]
    if host != scope.server.rstrip("/"):
        raise FaultError(
            f"chaostoolkit-kubernetes would reach {host}, the safety guard checked {scope.server} "
            f"(context {scope.context!r}): set KUBECONFIG to the kubeconfig the target uses"
        )
    return secrets
