"""How the Kubernetes target reads an Argo Rollout's status (pure computation on Rollout JSON, no API server).

The status fields and phases are Argo Rollouts v1.9's (CRD schema in tests/data, ``CalculateRolloutPhase``):
these tests pin the harness's reading of them, not a controller's behaviour.
"""

from __future__ import annotations

from typing import Any

import pytest

from resilience.targets.kube import argo

pytestmark = pytest.mark.unit


def _rollout(generation: int = 2, observed: str = "2", **status: Any) -> dict[str, Any]:
    blue_green = {"activeSelector": status.pop("active", "old"), "previewSelector": status.pop("preview", "new")}
    if "analysis" in status:
        blue_green["postPromotionAnalysisRunStatus"] = {"name": "chat-new-2-post", "status": status.pop("analysis")}
    return {
        "kind": "Rollout",
        "metadata": {"generation": generation},
        "spec": {},
        "status": {"observedGeneration": observed, "currentPodHash": "new", "stableRS": "old", "blueGreen": blue_green}
        | status,
    }


@pytest.mark.parametrize(
    ("rollout", "switched", "expected"),
    [
        (_rollout(observed="1", phase="Healthy"), False, None),  # the spec change is not observed yet
        (_rollout(phase="Progressing"), False, None),
        (_rollout(phase="Healthy", stableRS="new", active="new"), True, "completed"),
        (_rollout(phase="Degraded", abort=True, analysis="Failed", message="RolloutAborted: x"), False, "rolled_back"),
        (_rollout(phase="Degraded", abort=True, message="RolloutAborted: x"), True, "rolled_back"),
        (_rollout(phase="Degraded", abort=True, message="ProgressDeadlineExceeded: x"), False, "halted"),
        (_rollout(phase="Paused", pauseConditions=[{"reason": "BlueGreenPause"}]), False, None),
    ],
    ids=["unobserved", "progressing", "healthy", "analysis-failed", "aborted-after-switch", "deadline", "paused"],
)
def test_outcome_follows_argo_phases(rollout: dict[str, Any], switched: bool, expected: str | None) -> None:
    """Healthy with the new hash stable completes; an abort after the switch (or a failed post-promotion
    analysis) is the system's rollback; an abort before any user reached the new pods is a halt."""
    outcome, reason = argo.outcome(argo.blue_green(rollout), "new", switched)
    assert outcome == expected and reason


def test_rollout_state_needs_the_generation_observed_and_healthy() -> None:
    """Like ``kubectl argo rollouts status``: a Healthy phase of an older generation is not complete."""
    assert argo.rollout_state(_rollout(observed="1", phase="Healthy"))[0] is False
    assert argo.rollout_state(_rollout(phase="Healthy")) == (True, "Healthy: ReplicaSet old stable and active")
    assert argo.rollout_state(_rollout(phase="Degraded", message="RolloutAborted: m")) == (
        False,
        "Degraded: RolloutAborted: m",
    )


def test_serving_hash_is_the_active_selector() -> None:
    """What users are served: the active Service's selector (an aborted Rollout's spec names the bad release)."""
    assert argo.serving_hash(_rollout(active="old")) == "old"


@pytest.mark.parametrize(
    ("kind", "strategy", "rollback", "applicable"),
    [
        ("Deployment", "rolling", False, True),
        ("Deployment", "rolling", True, False),
        ("Deployment", "blue-green", False, False),
        ("Rollout", "blue-green", True, True),
        ("Rollout", "rolling", False, False),
        ("Rollout", "canary", False, False),
    ],
)
def test_deploy_applicability_by_workload(kind: str, strategy: str, rollback: bool, applicable: bool) -> None:
    """Each strategy runs only on the workload that implements it; a system rollback needs Argo's analysis."""
    why = argo.deploy_not_applicable(kind, strategy, system_rollback=rollback, analysis=False)
    assert (why == "") is applicable and "\n" not in why


def test_an_experiments_own_analysis_is_not_applicable() -> None:
    """The chart's AnalysisTemplate judges every release on Kubernetes; an experiment's cannot be applied."""
    assert "AnalysisTemplate" in argo.deploy_not_applicable(
        "Rollout", "blue-green", system_rollback=False, analysis=True
    )
