"""Releases of the chat Deployment: read, change, follow, and roll back (pure computation on API JSON).

chaostoolkit-kubernetes has no undo, so rollback is written here the way ``kubectl rollout undo`` does
it: find the ReplicaSet to return to (by the ``deployment.kubernetes.io/revision`` annotation, or the one
recorded before the harness's rollout) and put its pod template back into the Deployment with a JSON merge
patch carrying the resourceVersion it was built from (the API server refuses a stale one with 409 Conflict).
"""

from __future__ import annotations

import copy
from typing import Any

from resilience.errors import TargetError

__all__ = [
    "DEPLOY_ID",
    "REVISION",
    "ROLLBACK_TO",
    "ROLLED_BACK_TO",
    "merge_diff",
    "owned_replicasets",
    "release_of",
    "replace_template_patch",
    "replicaset_hash",
    "revision",
    "rollback_patch",
    "rollback_plan",
    "rollout_patch",
    "rollout_state",
    "scale_patch",
    "template_of",
    "with_release",
]

Json = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
ARGO_REVISION = "rollout.argoproj.io/revision"
HASH_LABEL = "pod-template-hash"
ARGO_HASH_LABEL = "rollouts-pod-template-hash"
"""An Argo Rollout's ReplicaSets carry these instead of the Deployment controller's (same meaning)."""
ROLLBACK_TO = "resilience/rollback-to"
"""Deployment annotation: pod-template-hash of the ReplicaSet running before the harness's first rollout."""
ROLLED_BACK_TO = "resilience/rolled-back-to"
"""Deployment annotation: pod-template-hash the last rollback returned to (makes rollback idempotent)."""
RELEASE_ENV = "CHAT_RELEASE"


def _container(template: Json, name: str) -> Json:
    for c in template.get("spec", {}).get("containers", []):
        if c.get("name") == name:
            found: Json = c
            return found
    raise TargetError(f"kubernetes: the chat pod template has no container {name!r}")


def release_of(deployment: Json, container: str) -> str:
    """CHAT_RELEASE of the Deployment's pod template (``good`` when unset, as the chat service defaults)."""
    env = _container(deployment["spec"]["template"], container).get("env") or []
    return next((str(e.get("value", "")) for e in env if e.get("name") == RELEASE_ENV), "good")


def is_image(release: str) -> bool:
    """A release containing ``:``, ``/`` or ``@`` is an image reference; otherwise a CHAT_RELEASE value."""
    return any(ch in release for ch in ":/@")


def with_release(template: Json, release: str, container: str) -> Json:
    """A copy of ``template`` running ``release`` (CHAT_RELEASE value, or an image reference)."""
    out = copy.deepcopy(template)
    target = _container(out, container)
    if is_image(release):
        target["image"] = release
        return out
    env = target.setdefault("env", [])
    for item in env:
        if item.get("name") == RELEASE_ENV:
            item.clear()
            item.update({"name": RELEASE_ENV, "value": release})
            return out
    env.insert(0, {"name": RELEASE_ENV, "value": release})
    return out


def revision(obj: Json) -> int:
    """The ``deployment.kubernetes.io/revision`` (or ``rollout.argoproj.io/revision``) annotation as an int
    (0 when absent)."""
    annotations = obj.get("metadata", {}).get("annotations") or {}
    value = annotations.get(REVISION, annotations.get(ARGO_REVISION, "0"))
    try:
        return int(value)
    except ValueError:
        return 0


def replicaset_hash(rs: Json) -> str:
    """The ReplicaSet's pod-template-hash label (rollouts-pod-template-hash for a Rollout's)."""
    labels = rs.get("metadata", {}).get("labels") or {}
    return str(labels.get(HASH_LABEL, labels.get(ARGO_HASH_LABEL, "")))


def owned_replicasets(deployment: Json, replicasets: list[Json]) -> list[Json]:
    """The ReplicaSets controlled by the Deployment or Rollout (by owner UID), newest revision first."""
    uid, kind = deployment["metadata"].get("uid"), deployment.get("kind", "Deployment")
    owned = [
        rs
        for rs in replicasets
        if any(o.get("uid") == uid and o.get("kind") == kind for o in rs["metadata"].get("ownerReferences", []))
    ]
    return sorted(owned, key=revision, reverse=True)


def template_of(rs: Json) -> Json:
    """The ReplicaSet's pod template as a Deployment template (without the pod-template-hash label)."""
    template: Json = copy.deepcopy(rs["spec"]["template"])
    labels = template.get("metadata", {}).get("labels") or {}
    labels.pop(HASH_LABEL, None)
    labels.pop(ARGO_HASH_LABEL, None)
    return template


def rollback_plan(deployment: Json, replicasets: list[Json]) -> tuple[Json | None, Json]:
    """(ReplicaSet to return to or None when already there, annotations to write).

    Order of preference: the ReplicaSet recorded before the harness's rollout (``resilience/rollback-to``);
    nothing, when the last rollback already returned to the current one; else the previous revision, as
    ``kubectl rollout undo`` does.
    """
    annotations = dict(deployment["metadata"].get("annotations") or {})
    owned = owned_replicasets(deployment, replicasets)
    current = next((rs for rs in owned if revision(rs) == revision(deployment)), owned[0] if owned else None)
    if current is None:
        raise TargetError(f"kubernetes: deployment {deployment['metadata']['name']} has no ReplicaSet")
    recorded = annotations.pop(ROLLBACK_TO, None)
    if recorded is None and annotations.get(ROLLED_BACK_TO) == replicaset_hash(current):
        return None, annotations
    if recorded is not None:
        target = next((rs for rs in owned if replicaset_hash(rs) == recorded), None)
        if target is None:
            raise TargetError(f"kubernetes: the ReplicaSet with pod-template-hash {recorded} to roll back to is gone")
    else:
        older = [rs for rs in owned if revision(rs) < revision(current)]
        if not older:
            raise TargetError(f"kubernetes: deployment {deployment['metadata']['name']} has no previous revision")
        target = older[0]
    annotations[ROLLED_BACK_TO] = replicaset_hash(target)
    return (None if target is current else target), annotations


def merge_diff(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) turning ``old`` into ``new``: removed keys become null, lists are whole."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return copy.deepcopy(new)
    patch: Json = {k: None for k in old if k not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = copy.deepcopy(value)
        elif old[key] != value:
            patch[key] = merge_diff(old[key], value)
    return patch


def _guarded(deployment: Json, patch: Json) -> Json:
    """``patch`` carrying the resourceVersion we read: the API server answers 409 Conflict if it moved on."""
    meta = {"resourceVersion": deployment["metadata"]["resourceVersion"], **patch.pop("metadata", {})}
    return {"metadata": meta, **patch}


def replace_template_patch(deployment: Json, template: Json, annotations: Json) -> Json:
    """A merge patch replacing the pod template and annotations, applied only to the version we read."""
    meta = deployment["metadata"]
    patch: Json = {"spec": {"template": merge_diff(deployment["spec"]["template"], template)}}
    patch["metadata"] = {"annotations": merge_diff(meta.get("annotations") or {}, annotations)}
    return _guarded(deployment, patch)


DEPLOY_ID = "resilience/deploy-id"
"""Pod template annotation a deploy sets (its start time): every deploy is a new revision, as a CI build id
makes it, even when the release is the one running."""


def rollout_patch(
    deployment: Json,
    replicasets: list[Json],
    release: str,
    container: str,
    *,
    deploy_id: str | None = None,
    rollback_to: str | None = None,
) -> Json:
    """The merge patch rolling ``release`` out, recording the ReplicaSet to roll back to (first rollout only,
    or ``rollback_to``: a deploy records what served before it); ``deploy_id`` goes into the pod template's
    annotations (a new revision)."""
    annotations = dict(deployment["metadata"].get("annotations") or {})
    annotations.pop(ROLLED_BACK_TO, None)
    owned = owned_replicasets(deployment, replicasets)
    current = next((rs for rs in owned if revision(rs) == revision(deployment)), None)
    if rollback_to:
        annotations[ROLLBACK_TO] = rollback_to
    elif current is not None:
        annotations.setdefault(ROLLBACK_TO, replicaset_hash(current))
    template = with_release(deployment["spec"]["template"], release, container)
    if deploy_id is not None:
        template.setdefault("metadata", {}).setdefault("annotations", {})[DEPLOY_ID] = deploy_id
    return replace_template_patch(deployment, template, annotations)


def rollback_patch(deployment: Json, replicasets: list[Json]) -> Json | None:
    """The merge patch of a rollback (see ``rollback_plan``); None when there is nothing to change."""
    target, annotations = rollback_plan(deployment, replicasets)
    if target is not None:
        return replace_template_patch(deployment, template_of(target), annotations)
    current = deployment["metadata"].get("annotations") or {}
    if annotations != current:
        return _guarded(deployment, {"metadata": {"annotations": merge_diff(current, annotations)}})
    return None


def scale_patch(deployment: Json, replicas: int) -> Json:
    """The merge patch setting the replica count."""
    return _guarded(deployment, {"spec": {"replicas": replicas}})


def rollout_state(deployment: Json) -> tuple[bool, str]:
    """(complete, reason) for a Deployment, with the rules of ``kubectl rollout status``."""
    meta, spec, status = deployment["metadata"], deployment.get("spec", {}), deployment.get("status") or {}
    if status.get("observedGeneration", 0) < meta.get("generation", 0):
        return False, "waiting for the deployment spec update to be observed"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return False, f"progress deadline exceeded: {cond.get('message', '')}"
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < want:
        return False, f"{updated} of {want} new replicas updated"
    if status.get("replicas", 0) > updated:
        return False, f"{status.get('replicas', 0) - updated} old replicas pending termination"
    if status.get("availableReplicas", 0) < updated:
        return False, f"{status.get('availableReplicas', 0)} of {updated} updated replicas available"
    return True, f"{updated} replicas updated and available"
