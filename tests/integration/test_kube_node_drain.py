"""Node drain on the kind target: resilience.faults.nodes.drain_node through chaostoolkit-kubernetes.

Against the fake API server (tests/support/fake_kube_api.py + fake_kube_nodes.py), a mock because no
kube-apiserver can run here: a control plane and three workers, the chat pods and the CloudNativePG
instances spread over the workers, evictions answered as kube-apiserver does (CloudNativePG's primary PDB
refuses with 429). chaosk8s builds its own client from the secrets the target hands it; the test process
has no kubeconfig on $KUBECONFIG or ~/.kube/config, so it uses the secrets' server, which the fault checks
is the guarded one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from resilience.context import OUT_DIR, RunContext, share_target
from resilience.errors import FaultError
from resilience.faults import revert_all_faults
from resilience.faults.ledger import fault_ledger
from resilience.faults.nodes import drain_node
from resilience.probes.kube import deployment_available
from resilience.targets.kube.dry_run import kill_plan_lines
from resilience.targets.kubernetes import KubernetesTarget
from tests.support.fake_kube_api import FakeKubeApi

pytestmark = pytest.mark.integration

CONFIG = {"target": "kind", "state_dir": ""}


@pytest.fixture
def fake() -> Iterator[FakeKubeApi]:
    for api in FakeKubeApi.serving_chart():
        api.add_nodes(3)
        yield api


@pytest.fixture
def config(fake: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config: chaosk8s takes the secrets' server
    target = KubernetesTarget(
        name="kind", kubeconfig=str(fake.write_kubeconfig(tmp_path / "kubeconfig")), poll_interval_s=0.05
    )
    target.state_dir = tmp_path / "state"  # type: ignore[attr-defined]  # the fault ledger's folder
    share_target(RunContext.of(CONFIG), target)
    yield {**CONFIG, OUT_DIR: str(tmp_path / "out")}
    revert_all_faults()


def _nodes_of(fake: FakeKubeApi, label: str, value: str) -> set[str]:
    return {p["spec"]["nodeName"] for p in fake.pods.values() if p["metadata"]["labels"].get(label) == value}


def test_drain_empties_a_chat_worker_and_the_revert_uncordons_it(fake: FakeKubeApi, config: dict[str, Any]) -> None:
    """The chosen node hosts chat pods and not the primary; it is cordoned before any eviction, its chat pod
    is evicted and replaced elsewhere; the ledger's revert (registered first) makes it schedulable again."""
    primary_node = _nodes_of(fake, "role", "primary")
    assert deployment_available(configuration=config) is True
    result = drain_node(configuration=config)
    node = result["node"]
    assert result["drained"] == [node] and node not in primary_node and node.startswith("resilience-worker")
    assert fake.nodes[node]["spec"]["unschedulable"] is True
    assert node not in _nodes_of(fake, "app", "chat-api")
    assert len([p for p in fake.pods.values() if p["metadata"]["labels"].get("app") == "chat-api"]) == 3
    writes = [(r.method, r.path) for r in fake.writes()]
    assert writes[0] == ("PATCH", f"/api/v1/nodes/{node}")
    evicted = [p for m, p in writes if m == "POST" and p.endswith("/eviction")]
    assert evicted and all("/namespaces/resilience/pods/" in p for p in evicted)
    assert [f.kind for f in fault_ledger().active()] == ["node-drain"]
    assert deployment_available(configuration=config) is True
    assert revert_all_faults() == [f"node-drain:{node}"]
    assert not fake.nodes[node]["spec"]["unschedulable"]
    records = [json.loads(line) for line in (Path(config[OUT_DIR]) / "faults.jsonl").read_text().splitlines()]
    assert [(r["event"], r["key"]) for r in records] == [("start", f"node-drain:{node}"), ("end", f"node-drain:{node}")]


def test_draining_the_primarys_node_is_refused_by_its_pdb_and_uncordoned(
    fake: FakeKubeApi, config: dict[str, Any]
) -> None:
    """Naming the primary's node: CloudNativePG's PDB answers 429, the fault fails with one line naming the
    disruption budget, and the node it had cordoned is uncordoned at once."""
    (node,) = _nodes_of(fake, "role", "primary")
    with pytest.raises(FaultError, match=r"drain node .*disruption budget") as info:
        drain_node(node=node, configuration=config)
    assert "\n" not in str(info.value)
    assert not fake.nodes[node]["spec"]["unschedulable"]
    assert fault_ledger().active() == []


def test_bad_node_names_are_refused_before_any_write(fake: FakeKubeApi, config: dict[str, Any]) -> None:
    """An unknown node, the control plane and an already cordoned node are ConfigErrors; nothing is written."""
    fake.nodes["resilience-worker3"]["spec"]["unschedulable"] = True
    for node, message in (
        ("nope", "not found"),
        ("resilience-control-plane", "control-plane"),
        ("resilience-worker3", "already cordoned"),
    ):
        with pytest.raises(Exception, match=message):
            drain_node(node=node, configuration=config)
    assert fake.writes() == []


def test_chaosk8s_reaching_another_cluster_is_refused(
    fake: FakeKubeApi, config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kubeconfig chaosk8s would load instead of the secrets' server (here another server on
    ~/.kube/config) is refused before any request: the safety guard's check is not bypassed."""
    other = FakeKubeApi().start()
    try:
        (tmp_path / ".kube").mkdir()
        other.write_kubeconfig(tmp_path / ".kube" / "config")
        with pytest.raises(FaultError, match="chaostoolkit-kubernetes"):
            drain_node(configuration=config)
        assert fake.writes() == [] and other.writes() == []
    finally:
        other.stop()


def test_dry_run_names_the_node_a_drain_would_empty(fake: FakeKubeApi, config: dict[str, Any]) -> None:
    """`--dry-run` lists the node experiments/node-drain.yaml would drain and its chat pods; nothing written."""
    experiment = yaml.safe_load((Path(__file__).resolve().parents[2] / "experiments" / "node-drain.yaml").read_text())
    target = RunContext.of(config).target
    assert isinstance(target, KubernetesTarget)
    (line,) = kill_plan_lines(target, [("node-drain", experiment)], seed=None)
    chat = sorted(
        n for n, p in fake.pods.items() if p["metadata"]["labels"].get("app") == "chat-api"
        and p["spec"]["nodeName"] == "resilience-worker2"
    )  # fmt: skip
    assert line == (
        "  node-drain/drain-a-chat-worker-node: would cordon node resilience-worker2 and evict its pods "
        f"(app=chat-api: {', '.join(chat)}; every other pod on it but DaemonSets') through "
        "chaostoolkit-kubernetes; uncordoned in the rollbacks"
    )
    assert fake.writes() == []
