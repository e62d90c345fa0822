"""Readers for the failover anatomy on Kubernetes (resilience/analysis/anatomy.py's keys), CloudNativePG:

    cnpg        dcs.leader = the Cluster's status.currentPrimary, db.target = status.targetPrimary,
                db.<pod> = "<role>/<running|stopping|phase>" of each instance pod (None once it is gone)
    endpoints   lb.<cluster>-rw.postgres-rw/<pod> = "UP" while the -rw Service's EndpointSlices list the
                pod ready, else "DOWN"
    pods        ready.<pod> = pod Ready, proc.<pod> = "RUNNING:<uid>" for the chat pods

A reader never raises: an API error leaves its keys out (the anatomy keeps the last known state).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from resilience.errors import TargetError
from resilience.targets.kube import cnpg
from resilience.targets.kube.api import KubeApi
from resilience.targets.kube.pods import is_terminating, pod_from_json

__all__ = ["Reader", "readers"]

Reader = Callable[[], dict[str, Any]]


def _instance_state(obj: dict[str, Any]) -> str:
    pod = pod_from_json(obj)
    labels = dict(pod.labels)
    role = labels.get("cnpg.io/instanceRole") or labels.get("role") or "unknown"
    if is_terminating(obj):
        return f"{role}/stopping"
    if pod.ready:
        return f"{role}/running"
    return f"{role}/{str((obj.get('status') or {}).get('phase', 'unknown')).lower()}"


def _cnpg(api: KubeApi, cluster: str, seen: set[str]) -> Reader:
    def read() -> dict[str, Any]:
        try:
            status = api.read_cluster(cluster).get("status") or {}
            pods = api.list_pods(cnpg.instance_selector(cluster))
        except TargetError:
            return {}
        states = {o["metadata"]["name"]: _instance_state(o) for o in pods}
        seen.update(states)
        return {
            "dcs.leader": status.get("currentPrimary") or None,
            "db.target": status.get("targetPrimary") or None,
            **{f"db.{name}": states.get(name) for name in sorted(seen)},
        }

    return read


def _endpoints(api: KubeApi, cluster: str, seen: set[str]) -> Reader:
    service = cnpg.rw_service(cluster)

    def read() -> dict[str, Any]:
        try:
            routed = cnpg.routed_to(api.list_endpoint_slices(service))
        except TargetError:
            return {}
        seen.update(routed)
        return {f"lb.{service}.postgres-rw/{name}": "UP" if name in routed else "DOWN" for name in sorted(seen)}

    return read


def _chat_pods(api: KubeApi, selector: str) -> Reader:
    def read() -> dict[str, Any]:
        try:
            objs = api.list_pods(selector)
        except TargetError:
            return {}
        out: dict[str, Any] = {}
        for obj in objs:
            pod = pod_from_json(obj)
            out[f"ready.{pod.name}"] = pod.ready and not is_terminating(obj)
            out[f"proc.{pod.name}"] = f"{'STOPPING' if is_terminating(obj) else 'RUNNING'}:{obj['metadata'].get('uid')}"
        return out

    return read


def readers(api: KubeApi, cluster: str, chat_selector: str = "app=chat-api") -> dict[str, Reader]:
    """One reader per source, by name; each remembers the instance pods it saw, so a deleted one reads as
    gone (None) and one no longer routed to as DOWN."""
    return {
        "cnpg": _cnpg(api, cluster, set()),
        "endpoints": _endpoints(api, cluster, set()),
        "pods": _chat_pods(api, chat_selector),
    }
