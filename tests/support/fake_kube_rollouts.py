"""Argo Rollouts for the fake Kubernetes API server (tests/support/fake_kube_api.py, a mock: no API server
and no Rollout controller can run here). The chart's Rollout (strategy.blueGreen, post-promotion analysis),
its controller modelled simply, one reconcile step per GET of the Rollout (so a client following its status
sees each state):

    spec.template changed -> new ReplicaSet <name>-<hash> (rollouts-pod-template-hash, rollout.argoproj.io/revision),
                             previewSelector = new, phase Progressing
    [new pods never ready: after ``deadline_steps`` steps, progressDeadlineAbort: abort, Degraded
     "ProgressDeadlineExceeded: ..."; ``deadline_steps`` None: Progressing for ever]
    [autoPromotionEnabled false: Paused (pauseConditions BlueGreenPause) until the status patch clears them]
    step -> activeSelector = new, post-promotion AnalysisRun Running
    step -> AnalysisRun Successful: stableRS = new, Healthy, old pods gone (scaleDownDelaySeconds modelled as 0)
         -> release in ``failing_analysis``: AnalysisRun Failed, abort, activeSelector = stable, Degraded
            "RolloutAborted: ...", the new pods scaled down
    spec.template back to the stable ReplicaSet's -> Healthy at once, abort cleared (Argo's fast-track rollback)

Status bodies of errors are kube-apiserver's (404 NotFound, 409 Conflict on a stale resourceVersion).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.fake_kube_api import FakeKubeApi, Recorded

__all__ = ["PREFIX", "RolloutModel", "add_rollout", "route"]

Json = dict[str, Any]
PREFIX = "apis/argoproj.io/v1alpha1"
HASH = "rollouts-pod-template-hash"
REVISION = "rollout.argoproj.io/revision"
RESOURCE = "rollouts.argoproj.io"


@dataclass
class RolloutModel:
    """Knobs of the modelled controller."""

    failing_analysis: set[str] = field(default_factory=set)
    """Releases (CHAT_RELEASE) whose post-promotion analysis fails."""
    deadline_steps: int | None = 3
    """Steps before a ReplicaSet that never gets ready hits the progress deadline (None: never)."""
    steps: dict[str, int] = field(default_factory=dict)


def _hash(template: Json) -> str:
    clean = copy.deepcopy(template)
    clean.get("metadata", {}).get("labels", {}).pop(HASH, None)
    # salted: Argo's hash differs from the Deployment controller's (and the names never collide in one fake)
    return hashlib.sha256(b"argo" + json.dumps(clean, sort_keys=True).encode()).hexdigest()[:10]


def _release(template: Json) -> str:
    env = template["spec"]["containers"][0].get("env") or []
    return str(next((e["value"] for e in env if e["name"] == "CHAT_RELEASE"), "good"))


def add_rollout(
    fake: FakeKubeApi, name: str, labels: dict[str, str], *, replicas: int = 3, auto_promotion: bool = True
) -> None:
    """The chart's blue-green Rollout, Healthy at revision 1 with its ReplicaSet and ready pods."""
    template = {
        "metadata": {"labels": dict(labels)},
        "spec": {
            "containers": [
                {"name": "chat", "image": "resilience/chat:dev", "env": [{"name": "CHAT_RELEASE", "value": "good"}]}
            ]
        },
    }
    fake.rollouts[name] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": name,
            "namespace": "resilience",
            "uid": f"uid-rollout-{name}",
            "generation": 1,
            "resourceVersion": fake._rv(),
            "annotations": {},
            "labels": dict(labels),
        },
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 120,
            "progressDeadlineAbort": True,
            "selector": {"matchLabels": dict(labels)},
            "template": template,
            "strategy": {
                "blueGreen": {
                    "activeService": name,
                    "previewService": f"{name}-preview",
                    "autoPromotionEnabled": auto_promotion,
                    "scaleDownDelaySeconds": 120,
                    "postPromotionAnalysis": {"templates": [{"templateName": f"{name}-analysis"}]},
                }
            },
        },
        "status": {},
    }
    digest = _new_replicaset(fake, name)
    status = fake.rollouts[name]["status"]
    status.update({"stableRS": digest, "blueGreen": {"activeSelector": digest, "previewSelector": digest}})
    _healthy(fake, name, digest)


def _owned(fake: FakeKubeApi, name: str) -> list[Json]:
    uid = fake.rollouts[name]["metadata"]["uid"]
    return [rs for rs in fake.replicasets.values() if rs["metadata"]["ownerReferences"][0]["uid"] == uid]


def _new_replicaset(fake: FakeKubeApi, name: str) -> str:
    """The ReplicaSet of the spec's template (created, or an old one given the next revision) with its pods."""
    ro = fake.rollouts[name]
    digest = _hash(ro["spec"]["template"])
    top = max((int(rs["metadata"]["annotations"][REVISION]) for rs in _owned(fake, name)), default=0)
    rs_name = f"{name}-{digest}"
    template = copy.deepcopy(ro["spec"]["template"])
    template["metadata"]["labels"][HASH] = digest
    fake.replicasets[rs_name] = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rs_name,
            "namespace": "resilience",
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {REVISION: str(top + 1)},
            "ownerReferences": [{"kind": "Rollout", "name": name, "uid": ro["metadata"]["uid"], "controller": True}],
        },
        "spec": {"replicas": ro["spec"]["replicas"], "template": template},
    }
    ro["metadata"]["annotations"][REVISION] = str(top + 1)
    ready = _release(template) not in fake.stalled_releases
    if not any(p["metadata"]["labels"].get(HASH) == digest for p in fake.pods.values()):
        _scale(fake, rs_name, ro["spec"]["replicas"], ready=ready)
    ro["status"].update(
        {"currentPodHash": digest, "observedGeneration": str(ro["metadata"]["generation"]), "abort": False}
    )
    return digest


def _scale(fake: FakeKubeApi, rs_name: str, replicas: int, *, ready: bool = True) -> None:
    from tests.support.fake_kube_api import pod_object  # noqa: PLC0415 (circular at import time)

    for pod in [
        p for p, o in fake.pods.items() if (o["metadata"].get("ownerReferences") or [{}])[0].get("name") == rs_name
    ]:
        del fake.pods[pod]
    rs = fake.replicasets[rs_name]
    owner = {"kind": "ReplicaSet", "name": rs_name, "uid": f"uid-{rs_name}", "controller": True}
    for _ in range(replicas):
        pod = f"{rs_name}-{fake._rv()}"
        fake.pods[pod] = pod_object(pod, dict(rs["spec"]["template"]["metadata"]["labels"]), ready=ready, owner=owner)


def _healthy(fake: FakeKubeApi, name: str, digest: str) -> None:
    ro = fake.rollouts[name]
    status = ro["status"]
    for rs in _owned(fake, name):
        if rs["metadata"]["labels"][HASH] != digest:
            _scale(fake, rs["metadata"]["name"], 0)
    status.update({"stableRS": digest, "currentPodHash": digest, "phase": "Healthy", "message": "", "abort": False})
    status["blueGreen"] = {**status.get("blueGreen", {}), "activeSelector": digest, "previewSelector": digest}
    status.pop("abortedAt", None)
    status.pop("pauseConditions", None)
    status["conditions"] = [_condition("True", "NewReplicaSetAvailable", "Rollout is healthy")]
    n = ro["spec"]["replicas"]
    status.update({"replicas": n, "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n})


def _condition(status: str, reason: str, message: str) -> Json:
    """A Progressing condition as the controller writes it (every field the CRD requires)."""
    at = "2026-12-04T18:00:00Z"
    fields = {"type": "Progressing", "status": status, "reason": reason, "message": message}
    return {**fields, "lastTransitionTime": at, "lastUpdateTime": at}


def _abort(fake: FakeKubeApi, name: str, reason: str, message: str) -> None:
    ro = fake.rollouts[name]
    status = ro["status"]
    stable = status["stableRS"]
    new = status["currentPodHash"]
    status.update({"abort": True, "abortedAt": "2026-12-04T18:00:00Z", "phase": "Degraded"})
    status["message"] = f"{reason}: {message}"
    status["blueGreen"]["activeSelector"] = stable
    status["conditions"] = [_condition("False", reason, message)]
    _scale(fake, f"{name}-{new}", 0)


def step(fake: FakeKubeApi, name: str) -> None:
    """One reconcile of the modelled controller (called on each GET of the Rollout)."""
    ro = fake.rollouts[name]
    status = ro["status"]
    new, stable = status["currentPodHash"], status["stableRS"]
    if new == stable or status.get("abort") or status.get("pauseConditions"):
        return
    model: RolloutModel = fake.rollout_model
    n = model.steps[name] = model.steps.get(name, 0) + 1
    bg = status["blueGreen"]
    release = _release(ro["spec"]["template"])
    if release in fake.stalled_releases:
        if model.deadline_steps is not None and n >= model.deadline_steps:
            rs = f"{name}-{new}"
            _abort(fake, name, "ProgressDeadlineExceeded", f'ReplicaSet "{rs}" has timed out progressing.')
    elif (
        bg["activeSelector"] != new
        and not ro["spec"]["strategy"]["blueGreen"].get("autoPromotionEnabled", True)
        and n == 1
    ):
        status["pauseConditions"] = [{"reason": "BlueGreenPause", "startTime": "2026-12-04T18:00:00Z"}]
        status.update({"phase": "Paused", "message": "BlueGreenPause", "controllerPause": True})
    elif bg["activeSelector"] != new:
        bg["activeSelector"] = new
        bg["postPromotionAnalysisRunStatus"] = {"name": f"{name}-{new}-2-post", "status": "Running"}
        status.update({"phase": "Progressing", "message": "waiting for post-promotion analysis to complete"})
    elif release in model.failing_analysis:
        bg["postPromotionAnalysisRunStatus"]["status"] = "Failed"
        revision = ro["metadata"]["annotations"][REVISION]
        message = (
            f'Rollout aborted update to revision {revision}: Metric "error-rate" assessed Failed due to '
            "failed (3) > failureLimit (2)"
        )
        _abort(fake, name, "RolloutAborted", message)
    else:
        bg["postPromotionAnalysisRunStatus"]["status"] = "Successful"
        _healthy(fake, name, new)
    ro["metadata"]["resourceVersion"] = fake._rv()


def route(fake: FakeKubeApi, r: Recorded, name: str | None, sub: str | None) -> Json:
    """GET / PATCH of rollouts and rollouts/status in the fake's namespace."""
    from tests.support.fake_kube_api import _Error, _merge_patch, _status, conflict, not_found  # noqa: PLC0415

    if name is None and r.method == "GET":
        return {"kind": "RolloutList", "metadata": {}, "items": [copy.deepcopy(o) for o in fake.rollouts.values()]}
    if name is None or name not in fake.rollouts:
        raise _Error(not_found(RESOURCE, str(name)))
    if r.method == "GET":
        step(fake, name)
        served = copy.deepcopy(fake.rollouts[name])
        if fake.bump_after_reads > 0:  # a concurrent write right after this read (the controller's status)
            fake.bump_after_reads -= 1
            fake.rollouts[name]["metadata"]["resourceVersion"] = fake._rv()
        return served
    if r.method != "PATCH" or r.content_type != "application/merge-patch+json":
        raise _Error(_status(415, "UnsupportedMediaType", f"{r.method} {r.content_type} not supported by the fake"))
    ro = fake.rollouts[name]
    wanted_rv = (r.body.get("metadata") or {}).get("resourceVersion")
    if wanted_rv is not None and wanted_rv != ro["metadata"]["resourceVersion"]:
        raise _Error(conflict(RESOURCE, name))
    if sub == "status":
        ro["status"] = _merge_patch(ro["status"], r.body.get("status") or {})
        if not ro["status"].get("pauseConditions"):
            ro["status"].pop("controllerPause", None)
            ro["status"].update({"phase": "Progressing", "message": "more replicas need to be updated"})
    else:
        patched = _merge_patch(ro, {k: v for k, v in r.body.items() if k != "status"})
        template_changed = patched["spec"]["template"] != ro["spec"]["template"]
        if patched["spec"] != ro["spec"]:
            patched["metadata"]["generation"] += 1
        fake.rollouts[name] = ro = patched
        if template_changed:
            _template_changed(fake, name)
        ro["status"]["observedGeneration"] = str(ro["metadata"]["generation"])
    ro["metadata"]["resourceVersion"] = fake._rv()
    return copy.deepcopy(ro)


def _template_changed(fake: FakeKubeApi, name: str) -> None:
    ro = fake.rollouts[name]
    status = ro["status"]
    digest = _hash(ro["spec"]["template"])
    fake.rollout_model.steps.pop(name, None)
    if digest == status["stableRS"]:  # back to the stable ReplicaSet: no analysis, Healthy at once
        top = max(int(rs["metadata"]["annotations"][REVISION]) for rs in _owned(fake, name))
        fake.replicasets[f"{name}-{digest}"]["metadata"]["annotations"][REVISION] = str(top + 1)
        ro["metadata"]["annotations"][REVISION] = str(top + 1)
        _healthy(fake, name, digest)
        return
    _new_replicaset(fake, name)
    status["blueGreen"]["previewSelector"] = digest
    status["blueGreen"].pop("postPromotionAnalysisRunStatus", None)
    status.pop("pauseConditions", None)
    status.update({"phase": "Progressing", "message": "more replicas need to be updated", "conditions": []})
