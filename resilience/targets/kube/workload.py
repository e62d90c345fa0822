"""The chat workload: the chart's Deployment, or its Argo Rollout when ``argoRollouts.enabled`` replaced it.

Which one runs is read from the API server on every use (a GET of the Rollout, 404 when there is none or the
Argo Rollouts CRD is not installed), never from a setting that could drift from the cluster. Both carry the
same pod template, selector and name (``<release>-chat``); their ReplicaSets differ only in the hash label and
revision annotation (``resilience/targets/kube/rollout.py`` reads both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from resilience.errors import TargetError
from resilience.targets.kube import argo
from resilience.targets.kube import rollout as kube_rollout
from resilience.targets.kube.api import KubeApi, retry_conflicts

__all__ = ["ChatWorkload"]

Json = dict[str, Any]


@dataclass(frozen=True)
class ChatWorkload:
    """Read, patch and follow the chat Deployment or Rollout named ``name``."""

    api: KubeApi
    name: str
    container: str

    def read(self) -> Json:
        """The Rollout when the cluster runs one under the chat's name, else the Deployment."""
        found = self.api.read_rollout(self.name)
        return found if found is not None else self.api.read_deployment(self.name)

    def kind(self) -> str:
        """``Rollout`` or ``Deployment``."""
        return str(self.read().get("kind") or "Deployment")

    def describe(self, obj: Json | None = None) -> str:
        """``deployment <name>`` or ``rollout <name> (argoproj.io/v1alpha1, blue-green)``."""
        kind = str((obj or self.read()).get("kind") or "Deployment")
        return (
            f"rollout {self.name} (argoproj.io/v1alpha1, blue-green)"
            if kind == "Rollout"
            else f"deployment {self.name}"
        )

    def replicasets(self, obj: Json) -> list[Json]:
        """The ReplicaSets the workload's selector matches (owned ones are picked by ``owned_replicasets``)."""
        labels = obj["spec"]["selector"].get("matchLabels") or {}
        return self.api.list_replicasets(",".join(f"{k}={v}" for k, v in sorted(labels.items())))

    def release(self) -> str:
        """The release users are served: the Deployment's pod template; a Rollout's active ReplicaSet (an
        aborted Rollout's spec still names the release it gave up)."""
        obj = self.read()
        if obj.get("kind") != "Rollout":
            return kube_rollout.release_of(obj, self.container)
        serving = argo.serving_hash(obj)
        for rs in kube_rollout.owned_replicasets(obj, self.replicasets(obj)):
            if serving and kube_rollout.replicaset_hash(rs) == serving:
                return kube_rollout.release_of(rs, self.container)
        return kube_rollout.release_of(obj, self.container)

    def patch(self, obj: Json, body: Json) -> Json:
        """Send a merge patch to the object ``obj`` was read as (guarded by its resourceVersion in ``body``)."""
        if obj.get("kind") == "Rollout":
            return self.api.patch_rollout(self.name, body)
        return self.api.patch_deployment(self.name, body)

    def read_modify_patch(
        self, build: Callable[[Json, list[Json]], Json | None], attempts: int
    ) -> tuple[Json, Json | None]:
        """Read the workload and its ReplicaSets, send ``build``'s merge patch; read again on a 409 Conflict.
        Returns (the object as read, the API server's answer to the patch or None when none was sent)."""

        def attempt() -> tuple[Json, Json | None]:
            obj = self.read()
            body = build(obj, self.replicasets(obj))
            return obj, (self.patch(obj, body) if body is not None else None)

        return retry_conflicts(attempt, attempts)

    def state(self) -> tuple[bool, str]:
        """(rolled out, reason): ``kubectl rollout status`` rules for a Deployment, Healthy for a Rollout."""
        obj = self.read()
        if obj.get("kind") == "Rollout":
            return argo.rollout_state(obj)
        return kube_rollout.rollout_state(obj)

    def serving(self) -> tuple[bool, str]:
        """(the spec's release serves all users, reason): ``state`` for a Deployment; for a Rollout the active
        Service switched to it (its analysis may still run). TargetError once Argo aborted it: it never will."""
        obj = self.read()
        if obj.get("kind") != "Rollout":
            return kube_rollout.rollout_state(obj)
        ok, reason = argo.serving_state(obj)
        if reason.startswith("aborted"):
            raise TargetError(f"kubernetes: rollout {self.name}: Argo Rollouts {reason}")
        return ok, reason

    def in_progress(self) -> bool:
        """A deploy started and did not end: the spec's pod template is not what serves and is not complete
        (a Deployment mid-rollout or stuck at its deadline; a Rollout progressing, paused or aborted)."""
        return not self.state()[0]
