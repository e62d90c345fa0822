"""NOT APPLICABLE: an experiment whose fault the target has no equivalent for is skipped and reported, not failed.

Targets are stand-ins here (no I/O): one shaped like the Kubernetes target (nodes, CloudNativePG's refusals),
one like the local stack (neither).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from resilience.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_OK
from resilience.runner.plan import RunOptions, not_applicable, not_applicable_result, prepare
from resilience.runner.verdict import exit_code, overall
from resilience.targets.kube.applicability import fault_not_applicable

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CNPG = "CloudNativePG's HA agent is PID 1"


class KubeLike:
    name = "kind"

    def node_access(self) -> Any:
        raise AssertionError("applicability must not call the API")

    def not_applicable(self, mode: str) -> str:
        return CNPG if mode in ("patroni-crash", "postmaster-kill") else ""


class LocalLike:
    name = "local"


def test_each_fault_is_judged_from_the_action_alone() -> None:
    """patroni-crash/postmaster-kill (either spelling) on Kubernetes and a node drain on local are not applicable;
    everything else is."""
    kube, local = KubeLike(), LocalLike()
    db = "resilience.faults.database"
    assert fault_not_applicable(kube, db, "crash_patroni", {}) == CNPG
    assert fault_not_applicable(kube, db, "fail_over_db", {"mode": "postmaster-kill"}) == CNPG
    assert fault_not_applicable(kube, db, "fail_over_db", {"mode": "switchover"}) == ""
    assert fault_not_applicable(kube, db, "crash_primary", {}) == ""
    assert fault_not_applicable(kube, "resilience.faults.nodes", "drain_node", {}) == ""
    assert "no Kubernetes nodes" in fault_not_applicable(local, "resilience.faults.nodes", "drain_node", {})
    assert fault_not_applicable(local, db, "crash_patroni", {}) == ""
    assert fault_not_applicable(local, "resilience.faults.pods", "kill_pods", {}) == ""


def test_nightly_on_kind_marks_patroni_crash_and_the_deploys_only() -> None:
    """scenarios/nightly.yaml on a Kubernetes target: patroni-crash (CloudNativePG's reason) and the
    experiments that deploy through Deployer.deploy (the kind target is none) are NOT APPLICABLE, nothing
    else; the run.json entry carries the reason and no figures."""
    plan = prepare(RunOptions(scenario=ROOT / "scenarios" / "nightly.yaml", target="kind"))
    skipped = not_applicable(plan, KubeLike())
    deploys = {p.name for p, exp in plan.experiments if any(
        a["provider"].get("module") == "resilience.faults.deploys" for a in exp.get("method") or []
    )}  # fmt: skip
    assert set(skipped) == {"patroni-crash", *deploys}
    assert skipped["patroni-crash"].endswith(CNPG)
    assert all("no deploy machinery" in skipped[name] for name in deploys)
    entry = not_applicable_result(plan, "patroni-crash", skipped["patroni-crash"])
    assert entry["verdict"] == "not_applicable" and entry["reasons"] == [skipped["patroni-crash"]]
    assert entry["file"].endswith("experiments/patroni-crash.yaml")
    assert set(entry) == {"name", "file", "verdict", "reasons"}


def test_kind_scenario_on_local_marks_node_drain_only() -> None:
    """scenarios/kind.yaml run against the local stack: only node-drain is NOT APPLICABLE."""
    plan = prepare(RunOptions(scenario=ROOT / "scenarios" / "kind.yaml", target="local"))
    assert list(not_applicable(plan, LocalLike())) == ["node-drain"]


@pytest.mark.parametrize(
    ("verdicts", "errored", "run", "code"),
    [
        (["passed", "not_applicable", "passed"], False, "passed", EXIT_OK),
        (["failed", "not_applicable"], False, "failed", EXIT_FAILED),
        (["not_applicable"], True, "aborted", EXIT_ABORTED),  # nothing applied: the runner records an error
    ],
)
def test_not_applicable_neither_passes_nor_fails_a_run(verdicts: list[str], errored: bool, run: str, code: int) -> None:
    """The run's verdict and exit code come from the experiments that ran; a run where none applied is aborted."""
    assert overall(verdicts, errored=errored) == run
    assert exit_code(run) == code
