"""Nodes for the fake Kubernetes API server (tests/support/fake_kube_api.py, a mock: no API server runs here).

What a node drain needs, as kube-apiserver and the scheduler behave:

* ``GET /api/v1/nodes`` (labelSelector, fieldSelector ``metadata.name=``), ``GET``/``PATCH /api/v1/nodes/{n}``
  (``spec.unschedulable``: cordon, uncordon);
* ``GET /api/v1/pods?fieldSelector=spec.nodeName=...`` (pods of every namespace on a node);
* ``POST .../pods/{p}/eviction``: the pod is deleted as a DELETE would (its controller replaces it) unless
  a PodDisruptionBudget forbids it: CloudNativePG's primary PDB (429 TooManyRequests, the real Status body)
  or a pod listed in ``fake.evictions_refused``;
* a scheduler: a pod without ``spec.nodeName`` goes to the schedulable worker with the fewest pods of the
  same ``app`` (ties by name), the way the chart's topology spread asks for.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from resilience.targets.selector import parse_selector

if TYPE_CHECKING:
    from tests.support.fake_kube_api import FakeKubeApi, Recorded

__all__ = ["add_nodes", "evict", "node_route", "schedule"]

Json = dict[str, Any]
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"


def add_nodes(fake: FakeKubeApi, workers: int = 3, *, cluster: str = "resilience") -> list[str]:
    """kind's node names: ``<cluster>-control-plane`` and ``<cluster>-worker``, ``-worker2``, ...; pods
    without a controller get a ReplicaSet owner (the chart runs every pod under a controller); every pod is
    scheduled. Returns the worker names."""
    names = [f"{cluster}-worker{'' if i == 1 else i}" for i in range(1, workers + 1)]
    for name, role in [(f"{cluster}-control-plane", {CONTROL_PLANE: ""}), *((n, {}) for n in names)]:
        labels = {"kubernetes.io/hostname": name, **role}
        fake.nodes[name] = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {},
        }
    for pod in fake.pods.values():
        meta = pod["metadata"]
        if not meta.get("ownerReferences") and "cnpg.io/cluster" not in meta["labels"]:
            rs = meta["name"].rsplit("-", 1)[0]
            meta["ownerReferences"] = [{"kind": "ReplicaSet", "name": rs, "uid": f"uid-{rs}", "controller": True}]
    schedule(fake)
    return names


def schedule(fake: FakeKubeApi) -> None:
    """Place every pod without a node; give CloudNativePG pods their Cluster owner and every pod the
    chart's emptyDir (what chaosk8s' drain looks at)."""
    workers = sorted(
        n
        for n, o in fake.nodes.items()
        if CONTROL_PLANE not in o["metadata"]["labels"] and not o["spec"].get("unschedulable")
    )
    for name in sorted(fake.pods):
        pod = fake.pods[name]
        spec, meta = pod["spec"], pod["metadata"]
        spec.setdefault("volumes", [{"name": "tmp", "emptyDir": {}}])
        image = spec["containers"][0].get("image", "example")
        for status in (pod.get("status") or {}).get("containerStatuses") or []:  # as the kubelet reports them
            status.setdefault("image", image)
            status.setdefault("imageID", f"{image}@sha256:{'0' * 64}")
        for owner in meta.get("ownerReferences") or []:  # as the API server returns them (typed clients need it)
            owner.setdefault("apiVersion", "apps/v1" if owner["kind"] == "ReplicaSet" else "postgresql.cnpg.io/v1")
        cluster = meta["labels"].get("cnpg.io/cluster")
        if cluster and not meta.get("ownerReferences"):
            meta["ownerReferences"] = [
                {
                    "apiVersion": "postgresql.cnpg.io/v1",
                    "kind": "Cluster",
                    "name": cluster,
                    "uid": f"uid-{cluster}",
                    "controller": True,
                }
            ]
        if spec.get("nodeName") or not workers:
            continue
        app = meta["labels"].get("app")

        def load(node: str, app: Any = app) -> tuple[int, str]:
            same = [
                p
                for p in fake.pods.values()
                if p["spec"].get("nodeName") == node and p["metadata"]["labels"].get("app") == app
            ]
            return len(same), node

        spec["nodeName"] = min(workers, key=load)


def node_route(fake: FakeKubeApi, r: Recorded, parts: list[str]) -> Json | None:
    """The answer to a node or all-namespaces pod request; None when ``r`` is something else."""
    from tests.support.fake_kube_api import _Error, not_found  # noqa: PLC0415 - the fake imports this module

    if parts[:3] == ["api", "v1", "nodes"]:
        if len(parts) == 3 and r.method == "GET":
            selector = parse_selector((r.query.get("labelSelector") or [""])[0])
            field = (r.query.get("fieldSelector") or [""])[0].removeprefix("metadata.name=")
            items = [
                copy.deepcopy(n)
                for name, n in sorted(fake.nodes.items())
                if selector.matches(n["metadata"]["labels"]) and (not field or name == field)
            ]
            return {"kind": "NodeList", "metadata": {"resourceVersion": fake._rv()}, "items": items}
        name = parts[3]
        if name not in fake.nodes:
            raise _Error(not_found("nodes", name))
        if r.method == "PATCH":
            unschedulable = ((r.body or {}).get("spec") or {}).get("unschedulable")
            fake.nodes[name]["spec"]["unschedulable"] = bool(unschedulable)
        return copy.deepcopy(fake.nodes[name])
    if len(parts) == 7 and parts[4:7:2] == ["pods", "eviction"] and r.method == "POST":
        return evict(fake, parts[5])
    if parts == ["api", "v1", "pods"] and r.method == "GET":
        node = (r.query.get("fieldSelector") or [""])[0].removeprefix("spec.nodeName=")
        items = [copy.deepcopy(p) for p in fake.pods.values() if not node or p["spec"].get("nodeName") == node]
        return {"kind": "PodList", "metadata": {"resourceVersion": fake._rv()}, "items": items}
    return None


def evict(fake: FakeKubeApi, name: str) -> Json:
    """POST pods/{name}/eviction: delete the pod as its controller would see it, unless a PDB forbids it."""
    from tests.support.fake_kube_api import _Error, _status, not_found  # noqa: PLC0415

    pod = fake.pods.get(name)
    if pod is None:
        raise _Error(not_found("pods", name))
    labels = pod["metadata"]["labels"]
    if labels.get("cnpg.io/instanceRole") == "primary" or name in fake.evictions_refused:
        budget = f"{labels['cnpg.io/cluster']}-primary" if "cnpg.io/cluster" in labels else f"{name}-pdb"
        cause = {
            "reason": "DisruptionBudget",
            "message": f"The disruption budget {budget} needs 1 healthy pods and has 1 currently",
        }
        raise _Error(
            _status(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
                {"causes": [cause]},
            )
        )
    fake.pods.pop(name)
    fake._after_pod_delete(pod)
    if name in fake.pods:  # CloudNativePG recreates an instance under its name: a new pod, a new uid
        fake.pods[name]["metadata"]["uid"] = f"uid-{name}-{fake._rv()}"
    schedule(fake)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
