"""Deploys on the Kubernetes target (``Deployer.deploy``): a rolling Deployment update, a blue-green Argo Rollout.

No Kubernetes API server and no Argo Rollouts controller can run on these machines, so every test here talks
to the fake API server (tests/support/fake_kube_api.py, a mock) whose Deployment controller and Rollout
controller (tests/support/fake_kube_rollouts.py) are models: they prove which requests the target sends and
how it reads the status the real controllers write (field names and phases from Argo Rollouts v1.9's CRD and
docs), not how a real cluster times a deploy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resilience.context import OUT_DIR, RunContext, share_target
from resilience.errors import ConfigError, TargetError
from resilience.faults.deploys import deploy_release
from resilience.faults.ledger import fault_ledger
from resilience.targets.base import Deployer
from tests.support import fake_kube_rollouts
from tests.support.chart import crd_errors
from tests.support.fake_kube_api import CHAT_DEPLOYMENT_PATH, FakeKubeApi, Recorded, kube_target

pytestmark = pytest.mark.integration

ROLLOUT_PATH = "/apis/argoproj.io/v1alpha1/namespaces/resilience/rollouts/resilience-chat"


@pytest.fixture
def argo() -> Iterator[FakeKubeApi]:
    """The chart with ``argoRollouts.enabled``: a blue-green Rollout replaces the Deployment."""
    yield from FakeKubeApi.serving_chart(rollouts=True)


def _writes(fake: FakeKubeApi) -> list[Recorded]:
    return fake.writes()


def _release_in(template: dict[str, Any]) -> str:
    env = template["spec"]["containers"][0]["env"]
    return str(next(e["value"] for e in env if e["name"] == "CHAT_RELEASE"))


def test_rolling_deploy_patches_the_deployment_and_completes(fake: FakeKubeApi, tmp_path: Path) -> None:
    """rolling: one version-guarded merge patch of the Deployment (release, a new revision, the ReplicaSet that
    served before), then completed once observedGeneration, updatedReplicas and availableReplicas say so."""
    target = kube_target(fake, tmp_path, poll_interval_s=0.01)
    assert isinstance(target, Deployer) and target.chat_kind() == "Deployment"
    read_rv = fake.deployments["resilience-chat"]["metadata"]["resourceVersion"]
    old_hash = next(iter(fake.replicasets.values()))["metadata"]["labels"]["pod-template-hash"]
    result = target.deploy("bad-latency", "rolling", timeout=10)
    [patch] = _writes(fake)
    assert (patch.method, patch.path) == ("PATCH", CHAT_DEPLOYMENT_PATH)
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body["metadata"]["resourceVersion"] == read_rv
    assert patch.body["metadata"]["annotations"] == {"resilience/rollback-to": old_hash}
    assert _release_in(patch.body["spec"]["template"]) == "bad-latency"
    assert "resilience/deploy-id" in patch.body["spec"]["template"]["metadata"]["annotations"]
    assert (result.outcome, result.previous, result.release, result.rolled_back_by) == (
        "completed",
        "good",
        "bad-latency",
        None,
    )
    assert result.switched_at is not None and result.started <= result.switched_at <= result.finished
    assert target.release() == "bad-latency" and not target.deploy_in_progress()


def test_a_rolling_deploy_of_the_running_release_is_a_new_revision(fake: FakeKubeApi, tmp_path: Path) -> None:
    """Deploying the release that runs still rolls the pods (the deploy id annotation), as a CI build would."""
    target = kube_target(fake, tmp_path, poll_interval_s=0.01)
    before = set(fake.replicasets)
    assert target.deploy("good", "rolling", timeout=10).outcome == "completed"
    assert len(set(fake.replicasets) - before) == 1


def test_rolling_deploy_that_never_gets_ready_halts_and_the_ledger_rolls_it_back(
    fake: FakeKubeApi, tmp_path: Path
) -> None:
    """A release failing readiness: halted at the progress deadline (the Deployment's Progressing condition),
    the deploy is still in progress for the fault ledger, whose rollback restores what served before."""
    fake.stalled_releases.add("bad-readiness")
    target = kube_target(fake, tmp_path, poll_interval_s=0.01)
    result = target.deploy("bad-readiness", "rolling", timeout=10)
    assert result.outcome == "halted" and result.rolled_back_by is None
    assert "progress deadline exceeded" in result.reason and "has timed out progressing" in result.reason
    assert target.deploy_in_progress()
    assert target.rollback(timeout=10) == "good"
    assert not target.deploy_in_progress()


def test_blue_green_on_a_deployment_is_not_applicable_and_touches_nothing(fake: FakeKubeApi, tmp_path: Path) -> None:
    """Without Argo Rollouts a blue-green deploy is refused with the reason (never a rolling one under its name)."""
    target = kube_target(fake, tmp_path, poll_interval_s=0.01)
    with pytest.raises(ConfigError, match=r"blue-green needs argoRollouts\.enabled"):
        target.deploy("good", "blue-green", timeout=10)
    assert target.deploy_not_applicable("rolling", system_rollback=True, analysis=False).startswith(
        "a Deployment has no analysis"
    )
    assert _writes(fake) == []


def test_blue_green_deploy_follows_the_rollout_to_healthy(argo: FakeKubeApi, tmp_path: Path) -> None:
    """blue-green: one guarded merge patch of the Rollout's template; the target follows the preview ReplicaSet,
    the active Service switch and the post-promotion analysis to Healthy, and sends nothing else."""
    target = kube_target(argo, tmp_path, poll_interval_s=0.01)
    assert target.chat_kind() == "Rollout"
    read_rv = argo.rollouts["resilience-chat"]["metadata"]["resourceVersion"]
    result = target.deploy("bad-latency", "blue-green", timeout=10)
    [patch] = _writes(argo)
    assert (patch.method, patch.path, patch.content_type) == ("PATCH", ROLLOUT_PATH, "application/merge-patch+json")
    assert patch.body["metadata"]["resourceVersion"] == read_rv
    assert _release_in(patch.body["spec"]["template"]) == "bad-latency"
    assert result.outcome == "completed" and result.rolled_back_by is None
    events = [e for _t, e in result.steps]
    assert any(e.startswith("active Service switched to ReplicaSet") for e in events)
    assert result.switched_at is not None and result.switched_at <= result.finished
    status = argo.rollouts["resilience-chat"]["status"]
    assert status["stableRS"] == status["blueGreen"]["activeSelector"] == status["currentPodHash"]
    assert target.release() == "bad-latency" and not target.deploy_in_progress()
    assert not any("/deployments/" in r.path for r in argo.requests)


def test_blue_green_deploy_of_a_bad_release_is_rolled_back_by_argo(argo: FakeKubeApi, tmp_path: Path) -> None:
    """A release whose post-promotion analysis fails: the Rollout aborts (Degraded) and the active Service goes
    back to the stable ReplicaSet; the target reports rolled back by the system and never aborted or undid it."""
    argo.rollout_model.failing_analysis.add("bad-errors")
    target = kube_target(argo, tmp_path, poll_interval_s=0.01)
    stable = argo.rollouts["resilience-chat"]["status"]["stableRS"]
    result = target.deploy("bad-errors", "blue-green", timeout=10)
    assert (result.outcome, result.rolled_back_by) == ("rolled_back", "system")
    assert "RolloutAborted" in result.reason and 'Metric "error-rate" assessed Failed' in result.reason
    assert result.switched_at is not None and result.rollback_finished is not None
    assert result.switched_at <= result.rollback_finished
    assert len(_writes(argo)) == 1  # the deploy's patch alone: no abort, no undo from the harness
    assert argo.rollouts["resilience-chat"]["status"]["blueGreen"]["activeSelector"] == stable
    assert target.release() == "good"
    # the Rollout keeps the aborted template: the fault ledger's rollback returns it to the stable ReplicaSet
    assert target.deploy_in_progress()
    assert target.rollback(timeout=10) == "good"
    assert argo.rollouts["resilience-chat"]["status"]["phase"] == "Healthy" and not target.deploy_in_progress()


def test_blue_green_deploy_that_never_gets_ready_is_halted(argo: FakeKubeApi, tmp_path: Path) -> None:
    """Pods that never get ready: Argo aborts at the progress deadline before the switch, users never saw them."""
    argo.stalled_releases.add("bad-readiness")
    target = kube_target(argo, tmp_path, poll_interval_s=0.01)
    result = target.deploy("bad-readiness", "blue-green", timeout=10)
    assert result.outcome == "halted" and result.switched_at is None
    assert "before the switch" in result.reason and "ProgressDeadlineExceeded" in result.reason
    assert target.release() == "good"


def test_blue_green_deploy_halts_at_the_timeout_when_the_rollout_never_settles(
    argo: FakeKubeApi, tmp_path: Path
) -> None:
    """No abort and no Healthy: the harness stops waiting after the Rollout's deadline (+ half) and says halted."""
    argo.stalled_releases.add("bad-readiness")
    argo.rollout_model.deadline_steps = None
    argo.rollouts["resilience-chat"]["spec"]["progressDeadlineSeconds"] = 1
    target = kube_target(argo, tmp_path, poll_interval_s=0.01)
    result = target.deploy("bad-readiness", "blue-green", timeout=0.5)
    assert result.outcome == "halted" and "not Healthy after" in result.reason
    assert 1.5 <= result.finished - result.started <= 1.5 + 2.0  # deadline + half, 2 s tolerance
    assert target.deploy_in_progress()


def test_paused_blue_green_is_promoted_like_kubectl_argo_rollouts_promote(tmp_path: Path) -> None:
    """autoPromotionEnabled false: at the BlueGreenPause the target clears status.pauseConditions (status
    subresource, merge patch) as ``kubectl argo rollouts promote`` does, and the Rollout goes on to Healthy."""
    for argo in FakeKubeApi.serving_chart(rollouts=True, auto_promotion=False):
        target = kube_target(argo, tmp_path, poll_interval_s=0.01)
        result = target.deploy("bad-latency", "blue-green", timeout=10)
        _patch, promote = _writes(argo)
        assert (promote.path, promote.content_type) == (f"{ROLLOUT_PATH}/status", "application/merge-patch+json")
        assert promote.body == {"status": {"pauseConditions": None}}
        assert result.outcome == "completed"


def test_rolling_deploy_on_a_rollout_is_not_applicable(argo: FakeKubeApi, tmp_path: Path) -> None:
    """The chart's Rollout is blue-green: a rolling deploy would be a blue-green one under another name."""
    with pytest.raises(ConfigError, match="rolling deploy would be a blue-green one"):
        kube_target(argo, tmp_path, poll_interval_s=0.01).deploy("good", "rolling", timeout=10)
    assert _writes(argo) == []


def test_rollout_and_rollback_patch_the_rollout_when_the_cluster_runs_one(argo: FakeKubeApi, tmp_path: Path) -> None:
    """rollout/rollback detect the Rollout from the API and patch it (the Deployment does not exist)."""
    target = kube_target(argo, tmp_path, poll_interval_s=0.01)
    target.rollout("bad-errors", timeout=10)
    assert target.release() == "bad-errors"
    assert target.rollback(timeout=10) == "good"
    assert [r.path for r in _writes(argo)] == [ROLLOUT_PATH, ROLLOUT_PATH]
    assert not any("/deployments/" in r.path for r in argo.requests)
    assert target.status().extra["checks"]["chat"]["healthy"] is True


def test_rollout_on_a_rollout_returns_at_the_switch_and_fails_fast_when_argo_aborts(
    argo: FakeKubeApi, tmp_path: Path
) -> None:
    """The harness's own rollout (bad-release-rollback) is done once the active Service serves the release,
    as on the local stack (the analysis may still run); an aborted Rollout is one TargetError at once,
    not a wait for the timeout; rollback then returns to the stable ReplicaSet."""
    argo.stalled_releases.add("bad-readiness")
    target = kube_target(argo, tmp_path, poll_interval_s=0.01)
    target.rollout("bad-errors", timeout=10)
    status = argo.rollouts["resilience-chat"]["status"]
    assert status["blueGreen"]["activeSelector"] == status["currentPodHash"] != status["stableRS"]
    assert status["blueGreen"]["postPromotionAnalysisRunStatus"]["status"] == "Running"
    assert target.rollback(timeout=10) == "good"
    with pytest.raises(TargetError, match="Argo Rollouts aborted: ProgressDeadlineExceeded"):
        target.rollout("bad-readiness", timeout=30)
    assert target.rollback(timeout=10) == "good" and not target.deploy_in_progress()


def test_rollout_patch_retries_when_the_rollout_changed_meanwhile(argo: FakeKubeApi, tmp_path: Path) -> None:
    """A Rollout patch refused with 409 Conflict (its controller wrote status after the read) is rebuilt."""
    argo.bump_after_reads = 1
    target = kube_target(argo, tmp_path, poll_interval_s=0.01)
    target.rollout("bad-errors", timeout=10)
    first, second = _writes(argo)
    assert first.body["metadata"]["resourceVersion"] != second.body["metadata"]["resourceVersion"]
    assert target.release() == "bad-errors"


@pytest.mark.parametrize(
    "case",
    [(False, "bad-readiness", "rolling", "halted"), (True, "bad-errors", "blue-green", "rolled_back")],
    ids=["deployment-halted", "rollout-rolled-back"],
)
def test_deploy_release_records_the_outcome_and_the_ledger_leaves_nothing_in_progress(
    case: tuple[bool, str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The experiments' action (resilience.faults.deploys.deploy_release) on kind: the deploy's record lands in
    deploys.jsonl with the outcome, and the fault ledger settles it: a halted Deployment or an aborted Rollout
    (still declaring the release it gave up) is rolled back to what served before, once the deploy ended."""
    rollouts, release, strategy, expect = case
    monkeypatch.setenv("HOME", str(tmp_path))
    for fake in FakeKubeApi.serving_chart(rollouts=rollouts):
        fake.stalled_releases.add("bad-readiness")
        fake.rollout_model.failing_analysis.add("bad-errors")
        target = kube_target(fake, tmp_path, poll_interval_s=0.01)
        target.state_dir = tmp_path / "state"  # type: ignore[attr-defined]  # the fault ledger's folder
        config = {"target": "kind", "state_dir": ""}
        share_target(RunContext.of(config), target)
        out = tmp_path / "out"
        out.mkdir()
        record = deploy_release(release, strategy=strategy, expect=expect, configuration={**config, OUT_DIR: str(out)})
        assert record["outcome"] == expect and record["expected"] == expect
        assert record["rolled_back_by"] == ("system" if expect == "rolled_back" else None)
        [line] = (out / "deploys.jsonl").read_text().splitlines()
        assert json.loads(line)["outcome"] == expect
        assert fault_ledger().active() == []
        assert not target.deploy_in_progress() and target.release() == "good"
        assert len(fake.writes()) == 2  # the deploy's patch, then the ledger's rollback once it ended


def test_every_rollout_state_the_fake_serves_fits_the_argo_rollouts_crd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The modelled controller writes only fields of Argo Rollouts v1.9.1's Rollout schema (strict: unknown
    fields rejected), so the status the target reads (blueGreen.activeSelector, abort, phase, ...) is named as
    the real controller names it; checked after every reconcile of a completed, an aborted and a paused deploy."""
    states: list[dict[str, Any]] = []
    real_step = fake_kube_rollouts.step

    def step(fake: FakeKubeApi, name: str) -> None:
        real_step(fake, name)
        states.append(copy.deepcopy(fake.rollouts[name]))

    monkeypatch.setattr(fake_kube_rollouts, "step", step)
    for auto_promotion in (True, False):
        for argo in FakeKubeApi.serving_chart(rollouts=True, auto_promotion=auto_promotion):
            argo.rollout_model.failing_analysis.add("bad-errors")
            argo.stalled_releases.add("bad-readiness")
            target = kube_target(argo, tmp_path, poll_interval_s=0.01)
            for release in ("bad-latency", "bad-errors", "bad-readiness"):
                target.deploy(release, "blue-green", timeout=10)
    phases = {s["status"].get("phase") for s in states}
    assert {"Healthy", "Progressing", "Degraded", "Paused"} <= phases
    errors = [e for s in states for e in crd_errors(s)]
    assert errors == []
