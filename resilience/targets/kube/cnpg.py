"""PostgreSQL HA through CloudNativePG (pure computation on API JSON).

Roles come from the operator's pod label ``cnpg.io/instanceRole`` (``primary`` / ``replica``; the
deprecated ``role`` label carries the same). A failover is provoked by deleting the primary pod with a
zero grace period; the operator promotes the most advanced standby. A switchover is what
``kubectl cnpg promote`` does: set ``status.targetPrimary`` (and phase "Switchover in progress") through
the status subresource, guarded by the Cluster's resourceVersion.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from resilience.errors import TargetError
from resilience.targets.base import DbNode
from resilience.targets.kube.pods import is_terminating, pod_from_json

__all__ = [
    "CLUSTER_LABEL",
    "HEALTHY_PHASE",
    "cluster_health",
    "db_nodes",
    "instance_selector",
    "routing_health",
    "rw_service",
    "switchover_patch",
]

Json = dict[str, Any]

CLUSTER_LABEL = "cnpg.io/cluster"
ROLE_LABEL = "cnpg.io/instanceRole"
LEGACY_ROLE_LABEL = "role"
HEALTHY_PHASE = "Cluster in healthy state"
SWITCHOVER_PHASE = "Switchover in progress"


def instance_selector(cluster: str) -> str:
    """Label selector of the cluster's PostgreSQL instance pods (not its jobs)."""
    return f"{CLUSTER_LABEL}={cluster},!cnpg.io/jobRole"


def _role(labels: dict[str, str]) -> str:
    return labels.get(ROLE_LABEL) or labels.get(LEGACY_ROLE_LABEL) or "unknown"


def db_nodes(pods: list[Json], cluster: Json) -> list[DbNode]:
    """Every instance with its role and state.

    ``sync`` marks streaming standbys of a cluster with synchronous replication configured: the chart uses
    quorum replication (``ANY n``), where every streaming standby is a synchronous candidate.
    """
    synchronous = _synchronous(cluster)
    nodes = []
    for obj in sorted(pods, key=lambda o: o["metadata"]["name"]):
        pod = pod_from_json(obj)
        role = _role(dict(pod.labels))
        if is_terminating(obj):
            state = "stopping"
        elif pod.ready:
            state = "running" if role == "primary" else "streaming"
        else:
            state = str((obj.get("status") or {}).get("phase", "unknown")).lower()
        nodes.append(DbNode(name=pod.name, role=role, state=state, sync=synchronous and state == "streaming"))
    return nodes


def _synchronous(cluster: Json) -> bool:
    spec = cluster.get("spec") or {}
    sync = (spec.get("postgresql") or {}).get("synchronous") or {}
    return int(sync.get("number", 0)) > 0 or int(spec.get("minSyncReplicas", 0)) > 0


def primary_of(pods: list[Json], cluster: Json) -> str:
    """The current primary: ``status.currentPrimary``, else the pod labelled primary."""
    current = (cluster.get("status") or {}).get("currentPrimary")
    if current:
        return str(current)
    labelled = [o["metadata"]["name"] for o in pods if _role(o["metadata"].get("labels") or {}) == "primary"]
    if len(labelled) != 1:
        raise TargetError(f"kubernetes: expected one PostgreSQL primary, found {len(labelled)}")
    return str(labelled[0])


def cluster_health(pods: list[Json], cluster: Json) -> tuple[bool, str]:
    """(healthy, reason): healthy phase, every instance ready, one primary, no switchover pending."""
    status = cluster.get("status") or {}
    want = (cluster.get("spec") or {}).get("instances", 0)
    ready = [o for o in pods if pod_from_json(o).ready]
    primaries = [o for o in ready if _role(o["metadata"].get("labels") or {}) == "primary"]
    if status.get("phase") != HEALTHY_PHASE:
        return False, f"phase {status.get('phase')!r}"
    if status.get("currentPrimary") != status.get("targetPrimary"):
        return False, f"primary {status.get('currentPrimary')} -> {status.get('targetPrimary')} in progress"
    if len(ready) < want or status.get("readyInstances", 0) < want:
        return False, f"{len(ready)} of {want} instances ready"
    if len(primaries) != 1:
        return False, f"{len(primaries)} ready primaries"
    return True, f"primary {status.get('currentPrimary')}, {len(ready)} instances ready"


def rw_service(cluster: str) -> str:
    """The operator's read-write Service, which follows the primary."""
    return f"{cluster}-rw"


def routed_to(slices: list[Json]) -> set[str]:
    """Pod names the Service's EndpointSlices route to (ready endpoints only)."""
    return {
        str(ep["targetRef"]["name"])
        for s in slices
        for ep in s.get("endpoints") or []
        if (ep.get("conditions") or {}).get("ready", True) and (ep.get("targetRef") or {}).get("name")
    }


def routing_health(primary: str, slices: list[Json], service: str) -> tuple[bool, str]:
    """(routed, reason): the read-write Service sends traffic to the primary and nowhere else."""
    targets = routed_to(slices)
    if targets != {primary}:
        return False, f"service {service} routes to {sorted(targets) or 'nothing'}, not {primary}"
    return True, f"service {service} routes to {primary}"


def switchover_patch(cluster: Json, pods: list[Json], *, now: dt.datetime | None = None) -> tuple[str, Json]:
    """(new primary, merge patch for the status subresource) promoting the first ready replica by name."""
    status = cluster.get("status") or {}
    primary = status.get("currentPrimary")
    candidates = sorted(
        pod.name
        for pod in map(pod_from_json, pods)
        if pod.ready and pod.name != primary and _role(dict(pod.labels)) == "replica"
    )
    if not candidates:
        raise TargetError("kubernetes: no ready PostgreSQL replica to switch over to")
    when = (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    target = candidates[0]
    body = {
        "metadata": {"resourceVersion": cluster["metadata"]["resourceVersion"]},
        "status": {
            "targetPrimary": target,
            "targetPrimaryTimestamp": when,
            "phase": SWITCHOVER_PHASE,
            "phaseReason": f"Switching over to {target}",
        },
    }
    return target, body
