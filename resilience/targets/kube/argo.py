"""Argo Rollouts (the chart's ``argoRollouts.enabled``): read a blue-green Rollout's status (pure computation).

The harness follows what the Rollout controller reports, with its own rules (argo-rollouts
``utils/rollout.GetRolloutPhase`` and ``CalculateRolloutPhase``):

* ``status.observedGeneration`` (a string) older than ``metadata.generation``: the spec change is not seen yet;
* ``status.phase``: ``Healthy`` (the new ReplicaSet is stable and active), ``Progressing``, ``Paused`` (a
  pause condition, e.g. ``BlueGreenPause`` with ``autoPromotionEnabled: false``), ``Degraded`` (a condition
  with reason ``RolloutAborted`` or ``ProgressDeadlineExceeded``: ``status.abort`` is set and the active
  Service is back on the stable ReplicaSet);
* ``status.blueGreen.activeSelector`` / ``previewSelector``: the rollouts-pod-template-hash each Service
  selects; ``status.stableRS``: the hash users are served by once the controller judged it;
  ``status.currentPodHash``: the hash of the spec's pod template;
* ``status.blueGreen.postPromotionAnalysisRunStatus``: the AnalysisRun judging the new pods after the switch.

Promotion is what ``kubectl argo rollouts promote`` sends: a merge patch of the status subresource clearing
``status.pauseConditions`` (and ``spec.paused: false`` when the spec is paused). Abort (``status.abort:
true``) is the controller's, after a failed analysis or the progress deadline: the harness never sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEPLOY_STRATEGIES",
    "BlueGreen",
    "blue_green",
    "deploy_not_applicable",
    "outcome",
    "promote_patch",
    "rollout_state",
    "serving_hash",
    "serving_state",
]

Json = dict[str, Any]
DEPLOY_STRATEGIES = ("rolling", "blue-green")


@dataclass(frozen=True)
class BlueGreen:
    """What a blue-green Rollout's status says now."""

    observed: bool
    """The controller has seen the current spec (observedGeneration == generation)."""
    phase: str
    message: str
    aborted: bool
    current: str
    """rollouts-pod-template-hash of the spec's pod template."""
    stable: str
    active: str
    preview: str
    paused: bool
    analysis: str
    """Phase of the post-promotion AnalysisRun ('' when none): Running, Successful, Failed, Error, ..."""
    analysis_run: str


def blue_green(rollout: Json) -> BlueGreen:
    """The fields of ``rollout``'s status the harness follows."""
    meta, spec, status = rollout.get("metadata") or {}, rollout.get("spec") or {}, rollout.get("status") or {}
    bg = status.get("blueGreen") or {}
    run = bg.get("postPromotionAnalysisRunStatus") or {}
    return BlueGreen(
        observed=str(status.get("observedGeneration", "")) == str(meta.get("generation", "")),
        phase=str(status.get("phase") or ""),
        message=str(status.get("message") or ""),
        aborted=bool(status.get("abort")),
        current=str(status.get("currentPodHash") or ""),
        stable=str(status.get("stableRS") or ""),
        active=str(bg.get("activeSelector") or ""),
        preview=str(bg.get("previewSelector") or ""),
        paused=bool(spec.get("paused")) or bool(status.get("pauseConditions")),
        analysis=str(run.get("status") or ""),
        analysis_run=str(run.get("name") or ""),
    )


def serving_hash(rollout: Json) -> str:
    """The pod template hash users are served by: the active Service's selector, else the stable ReplicaSet."""
    bg = blue_green(rollout)
    return bg.active or bg.stable


def rollout_state(rollout: Json) -> tuple[bool, str]:
    """(complete, reason) for a Rollout, as ``kubectl argo rollouts status`` judges it: Healthy and observed."""
    bg = blue_green(rollout)
    if not bg.observed:
        return False, "waiting for the rollout spec update to be observed"
    if bg.phase == "Healthy":
        return True, f"Healthy: ReplicaSet {bg.stable} stable and active"
    return False, f"{bg.phase or 'no phase yet'}: {bg.message or 'no message'}"


def serving_state(rollout: Json) -> tuple[bool, str]:
    """(the spec's release serves users, reason): observed, and the active Service on the current pod template
    (the post-promotion analysis may still run). Raises nothing: an aborted Rollout reads (False, why)."""
    bg = blue_green(rollout)
    if not bg.observed:
        return False, "waiting for the rollout spec update to be observed"
    if bg.aborted or bg.phase == "Degraded":
        return False, f"aborted: {bg.message or bg.phase}"
    if bg.current and bg.active == bg.current:
        return True, f"active Service on ReplicaSet {bg.current} ({bg.phase or 'no phase'})"
    return False, f"{bg.phase or 'no phase yet'}: {bg.message or 'the active Service is not switched yet'}"


Outcome = Literal["completed", "halted", "rolled_back"]


def outcome(bg: BlueGreen, new_hash: str, switched: bool) -> tuple[Outcome | None, str]:
    """How the deploy of ``new_hash`` ended (None: not yet), and why.

    Healthy with the new hash stable: completed. Aborted (Degraded) after the active Service switched to
    the new pods, or after the post-promotion analysis ran: rolled back by the system. Aborted before any
    user was served by the new pods (the progress deadline: it never became ready): halted."""
    if not bg.observed or bg.current != new_hash:
        return None, "waiting for the controller to observe the new pod template"
    if bg.phase == "Healthy" and bg.stable == new_hash and not bg.aborted:
        return "completed", f"Healthy: ReplicaSet {new_hash} stable and active"
    if bg.aborted or bg.phase == "Degraded":
        why = bg.message or "aborted"
        if switched or bg.analysis in ("Failed", "Error", "Inconclusive"):
            run = f" (AnalysisRun {bg.analysis_run}: {bg.analysis})" if bg.analysis_run else ""
            return "rolled_back", f"Argo Rollouts aborted the rollout and switched back to {bg.stable}: {why}{run}"
        return "halted", f"Argo Rollouts aborted the rollout before the switch (users never reached it): {why}"
    return None, f"{bg.phase or 'Progressing'}: {bg.message or 'no message'}"


def promote_patch() -> Json:
    """The status merge patch of ``kubectl argo rollouts promote`` for a Rollout the controller paused for
    promotion (BlueGreenPause): clear ``status.pauseConditions`` (a person's ``spec.paused`` is left alone)."""
    return {"status": {"pauseConditions": None}}


def deploy_not_applicable(kind: str, strategy: str, *, system_rollback: bool, analysis: bool) -> str:
    """Why a deploy with ``strategy`` cannot run on a cluster whose chat workload is ``kind`` ('' when it can).

    ``system_rollback``: the experiment expects the system to roll the release back by itself;
    ``analysis``: it passes its own AnalysisTemplate."""
    if strategy not in DEPLOY_STRATEGIES:
        return f"unknown deploy strategy {strategy!r} (known: {', '.join(DEPLOY_STRATEGIES)})"
    if analysis:
        return (
            "an experiment's own analysis cannot be applied on Kubernetes: the chart's AnalysisTemplate "
            "(argoRollouts.analysis values) judges every release"
        )
    if kind == "Rollout" and strategy == "rolling":
        return (
            "the chat runs as an Argo Rollout with strategy.blueGreen (argoRollouts.enabled): a rolling deploy "
            "would be a blue-green one under the rolling name"
        )
    if kind != "Rollout" and strategy == "blue-green":
        return (
            "the chart runs the chat as a Deployment (rolling updates only): blue-green needs argoRollouts.enabled "
            "(an Argo Rollout with strategy.blueGreen), and a rolling deploy under the blue-green name would not be one"
        )
    if kind != "Rollout" and system_rollback:
        return (
            "a Deployment has no analysis and never rolls a release back by itself: the chart's automated "
            "rollback is Argo Rollouts (argoRollouts.enabled, strategy blue-green)"
        )
    return ""
