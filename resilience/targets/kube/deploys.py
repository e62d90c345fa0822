"""Deploys on Kubernetes (``Deployer.deploy``): start one, then follow what the cluster's controllers report.

    rolling     Deployment  merge patch of the pod template (resourceVersion-guarded) -> follow
                            observedGeneration, updatedReplicas, availableReplicas (kubectl rollout status)
                            -> completed | halted (Progressing=False ProgressDeadlineExceeded, or the timeout)
    blue-green  Rollout     merge patch of the pod template -> the controller brings up the preview
                            ReplicaSet -> [BlueGreenPause: promote, as kubectl argo rollouts promote] -> active
                            Service switch -> post-promotion analysis -> Healthy: completed
                                                                    -> Degraded + abort: rolled back by Argo
                            aborted before the switch (progress deadline): halted; timeout: halted

The harness never aborts, never undoes and never switches traffic while it follows a deploy: what it reports
as rolled back is what the Rollout controller did. A deploy that halted (or was interrupted) is left as the
cluster has it; the fault ledger then rolls it back (``rollback``) so the next experiment starts clean.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from resilience.errors import ConfigError
from resilience.targets.base import DeployOutcome, DeployResult
from resilience.targets.kube import argo
from resilience.targets.kube import rollout as kube_rollout
from resilience.targets.kube.workload import ChatWorkload

__all__ = ["DEADLINE_MARGIN_S", "run_deploy"]

log = logging.getLogger(__name__)

Json = dict[str, Any]
DEADLINE_MARGIN_S = 30.0
"""The harness waits at least the workload's progressDeadlineSeconds plus this (at most half the deadline
more): the cluster's own deadline decides first, the harness's timeout is the backstop."""


@dataclass
class _Follow:
    """The deploy being followed: its start, its steps (each new state once) and the moments that matter."""

    release: str
    strategy: str
    previous: str
    started: float
    steps: list[tuple[float, str]] = field(default_factory=list)
    switched_at: float | None = None

    def note(self, at: float, event: str) -> None:
        if not self.steps or self.steps[-1][1] != event:
            self.steps.append((at, event))
            log.info("deploy %s (%s): %s", self.release, self.strategy, event)

    def end(
        self, at: float, outcome: DeployOutcome, reason: str, *, rolled_back_at: float | None = None
    ) -> DeployResult:
        self.note(at, f"{outcome}: {reason}")
        return DeployResult(
            strategy=self.strategy,
            release=self.release,
            previous=self.previous,
            started=self.started,
            finished=at,
            outcome=outcome,
            rolled_back_by="system" if outcome == "rolled_back" else None,
            reason=reason,
            switched_at=self.switched_at,
            rollback_started=rolled_back_at,
            rollback_finished=rolled_back_at,
            steps=tuple(self.steps),
        )


def run_deploy(
    workload: ChatWorkload,
    release: str,
    strategy: str,
    *,
    analysis: Mapping[str, Any] | None,
    options: Mapping[str, Any] | None,
    timeout: float,
    poll_s: float,
    attempts: int,
    clock: Callable[[], float] = time.time,
) -> DeployResult:
    """Deploy ``release`` with ``strategy`` and follow it until it completed, halted or Argo rolled it back."""
    obj = workload.read()
    kind = str(obj.get("kind") or "Deployment")
    why = argo.deploy_not_applicable(kind, strategy, system_rollback=False, analysis=analysis is not None)
    if why:
        raise ConfigError(f"deploy {strategy} of {release!r} is not applicable on Kubernetes: {why}")
    follow = _Follow(release, strategy, workload.release(), clock())
    if options:
        follow.note(follow.started, f"options {', '.join(sorted(options))} not used: the chart's spec rules")
    deadline = float(obj["spec"].get("progressDeadlineSeconds", 600))
    wait_s = max(timeout, deadline + min(DEADLINE_MARGIN_S, deadline / 2))
    stamp = f"{follow.started:.3f}"

    def build(o: Json, rss: list[Json]) -> Json:
        serving = _serving_replicaset(o, rss)
        return kube_rollout.rollout_patch(o, rss, release, workload.container, deploy_id=stamp, rollback_to=serving)

    _read, patched = workload.read_modify_patch(build, attempts)
    generation = int(((patched or {}).get("metadata") or {}).get("generation", 0))
    follow.note(clock(), f"patched {workload.describe(obj)}: release {follow.previous!r} -> {release!r}")
    if kind == "Rollout":
        return _follow_blue_green(workload, follow, generation=generation, wait_s=wait_s, poll_s=poll_s, clock=clock)
    return _follow_rolling(workload, follow, wait_s, poll_s, clock)


def _serving_replicaset(obj: Json, replicasets: list[Json]) -> str | None:
    """pod-template-hash of what serves before the deploy: a Rollout's active ReplicaSet; a complete
    Deployment's current one (a Deployment mid-rollout: None, the first recorded rollback target stays)."""
    if obj.get("kind") == "Rollout":
        return argo.serving_hash(obj) or None
    if not kube_rollout.rollout_state(obj)[0]:
        return None
    owned = kube_rollout.owned_replicasets(obj, replicasets)
    current = next((rs for rs in owned if kube_rollout.revision(rs) == kube_rollout.revision(obj)), None)
    return kube_rollout.replicaset_hash(current) if current is not None else None


def _follow_rolling(
    workload: ChatWorkload, follow: _Follow, wait_s: float, poll_s: float, clock: Callable[[], float]
) -> DeployResult:
    while True:
        ok, reason = kube_rollout.rollout_state(workload.read())
        now = clock()
        follow.note(now, reason)
        if ok:
            follow.switched_at = now
            return follow.end(now, "completed", reason)
        if reason.startswith("progress deadline exceeded"):
            return follow.end(now, "halted", f"{reason} (the old ReplicaSet kept serving: maxUnavailable 0)")
        if now - follow.started >= wait_s:
            return follow.end(now, "halted", f"not rolled out after {wait_s:.0f} s: {reason}")
        time.sleep(poll_s)


def _follow_blue_green(
    workload: ChatWorkload,
    follow: _Follow,
    *,
    generation: int,
    wait_s: float,
    poll_s: float,
    clock: Callable[[], float],
) -> DeployResult:
    new_hash = ""
    while True:
        obj = workload.read()
        bg, now = argo.blue_green(obj), clock()
        seen = int((obj.get("metadata") or {}).get("generation", 0)) >= generation
        if not new_hash and bg.observed and seen and bg.current:
            new_hash = bg.current
            follow.note(now, f"preview ReplicaSet {new_hash}")
        if new_hash and bg.active == new_hash and follow.switched_at is None and not bg.aborted:
            follow.switched_at = now
            follow.note(now, f"active Service switched to ReplicaSet {new_hash}")
        if new_hash and _waiting_for_promotion(obj) and bg.preview == new_hash:
            _promote(workload)
            follow.note(
                now,
                "promoted: BlueGreenPause lifted (autoPromotionEnabled false), as kubectl argo rollouts promote",
            )
        if new_hash:
            outcome, reason = argo.outcome(bg, new_hash, follow.switched_at is not None)
            follow.note(now, f"{bg.phase}: {bg.message}" if bg.message else bg.phase or "Progressing")
            if outcome == "completed":
                follow.switched_at = follow.switched_at or now
                return follow.end(now, outcome, reason)
            if outcome == "rolled_back":
                return follow.end(now, outcome, reason, rolled_back_at=now)
            if outcome == "halted":
                return follow.end(now, outcome, reason)
        if now - follow.started >= wait_s:
            state = f"{bg.phase or 'no phase'}: {bg.message or 'no message'}"
            return follow.end(now, "halted", f"not Healthy after {wait_s:.0f} s ({state})")
        time.sleep(poll_s)


def _waiting_for_promotion(obj: Json) -> bool:
    """Paused by the controller for promotion (BlueGreenPause), not by a person (spec.paused)."""
    conditions = (obj.get("status") or {}).get("pauseConditions") or []
    return any(c.get("reason") == "BlueGreenPause" for c in conditions) and not (obj.get("spec") or {}).get("paused")


def _promote(workload: ChatWorkload) -> None:
    workload.api.patch_rollout_status(workload.name, argo.promote_patch())
