"""Every experiment in experiments/ drives the kind target through its own fault and health providers.

No Kubernetes API server can run on these machines, so the kind target talks to the HTTP-level fake API
server (tests/support/fake_kube_api.py) — a mock, because no real thing can run here. The in-cluster
Toxiproxy is stood in for by the real fault proxy (``python -m resilience.netfault``, Toxiproxy's API) on
loopback. Each experiment file is read as it is; its target-facing activities (steady-state health
probes, the method's faults and health probes, the rollbacks) are called in order with the experiment's
own arguments, except that fault hold durations are shortened to keep the test fast. SLO and integrity
probes need live load and are left to the game-day tests.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from resilience.context import OUT_DIR, RunContext, share_target
from resilience.faults.ledger import fault_ledger
from resilience.targets.kube.applicability import fault_not_applicable
from resilience.targets.kubernetes import KubernetesTarget
from tests.support.fake_kube_api import FakeKubeApi
from tests.support.servers import free_port, wait_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _deploys(path: Path) -> bool:
    method = yaml.safe_load(path.read_text()).get("method") or []
    return any(a["provider"].get("module") == "resilience.faults.deploys" for a in method)


EXPERIMENTS = sorted(
    p
    for p in (ROOT / "experiments").glob("*.yaml")
    if "local-only" not in (yaml.safe_load(p.read_text())["tags"] or []) and not _deploys(p)
)
"""Every experiment but those tagged local-only (db-postmaster-kill, patroni-crash: not applicable on CNPG)
and the deploy experiments (the kind target is no Deployer: the runner reports them NOT APPLICABLE, see
test_deploy_experiments_are_not_applicable_on_kind)."""
DEPLOYS = sorted(p for p in (ROOT / "experiments").glob("*.yaml") if _deploys(p))
TARGET_FACING = ("resilience.faults", "resilience.probes.health", "resilience.probes.kube")
CONFIG = {"target": "kind", "state_dir": ""}
EXPECTED_FAULTS = {
    "pod-kill": ["instant kill:app=chat-api"],
    "db-failover": ["instant db-failover:primary-crash"],
    "db-switchover": ["instant db-failover:switchover"],
    "db-latency": ["toxic toxic:postgres:resilience_latency_downstream"],
    "network-partition": ["proxy-down down:postgres"],
    "redis-outage": ["proxy-down down:redis"],
    "bad-release-rollback": ["release release"],
    "node-drain": ["node-drain node-drain:resilience-worker2"],
}
"""Per experiment: the faults (kind, key) the ledger records as started — proof the faults really ran."""
EXPECTED_WRITES = {
    "pod-kill": [("DELETE", "pods/resilience-chat-")],
    "db-failover": [("DELETE", "pods/resilience-pg-1")],
    "db-switchover": [("PATCH", "clusters/resilience-pg/status")],
    "bad-release-rollback": [("PATCH", "deployments/resilience-chat"), ("PATCH", "deployments/resilience-chat")],
    "node-drain": [  # the primary is on worker; worker2 and worker3 host one chat pod each: worker2 by name
        ("PATCH", "nodes/resilience-worker2"),
        ("POST", "pods/resilience-chat-"),
        ("POST", "pods/resilience-pg-2/eviction"),
        ("PATCH", "nodes/resilience-worker2"),
    ],
}
"""Per experiment: the writes the fake API server must have received (network faults go to Toxiproxy)."""


@pytest.fixture
def toxiproxy_api(tmp_path: Path) -> Iterator[str]:
    """The real fault proxy with proxies ``postgres`` and ``redis`` (upstreams unused), stopped by pid."""
    port = free_port()
    proxies = [
        {"name": name, "listen": f"127.0.0.1:{free_port()}", "upstream": f"127.0.0.1:{free_port()}", "enabled": True}
        for name in ("postgres", "redis")
    ]
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps(proxies))
    log = (tmp_path / "netfault.log").open("w")
    argv = [sys.executable, "-m", "resilience.netfault", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen([*argv, "--config", str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture
def fake() -> Iterator[FakeKubeApi]:
    """The fake API server holding what deploy/chart installs, on a control plane and three workers."""
    for api in FakeKubeApi.serving_chart():
        api.add_nodes(3)
        yield api


def _activities(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    steady = (experiment.get("steady-state-hypothesis") or {}).get("probes") or []
    ordered = [*steady, *(experiment.get("method") or []), *steady, *(experiment.get("rollbacks") or [])]
    return [a for a in ordered if str(a["provider"].get("module", "")).startswith(TARGET_FACING)]


def _call(activity: dict[str, Any], config: dict[str, Any]) -> Any:
    provider = activity["provider"]
    module = importlib.import_module(provider["module"])
    args = dict(provider.get("arguments") or {})
    if "duration_s" in args:
        args["duration_s"] = 0.2
    return getattr(module, provider["func"])(**args, configuration=config)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_runs_unchanged_on_the_kind_target(
    path: Path, fake: FakeKubeApi, toxiproxy_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The experiment's target-facing activities succeed on kind, and its rollbacks leave no fault behind."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # chaosk8s (node-drain) must not find a developer's kubeconfig
    port = int(toxiproxy_api.rsplit(":", 1)[1])
    target = KubernetesTarget(
        name="kind",
        kubeconfig=str(fake.write_kubeconfig(tmp_path / "kubeconfig")),
        node_ports={"chat": 30080, "toxiproxy": port, "postgres": 30432, "redis": 30379},
        poll_interval_s=0.05,
    )
    target.state_dir = tmp_path / "state"  # type: ignore[attr-defined]  # the fault ledger's folder, not ./.state
    share_target(RunContext.of(CONFIG), target)
    experiment = yaml.safe_load(path.read_text())
    activities = _activities(experiment)
    assert activities, f"{path.name} has no target-facing activity"
    config = {**CONFIG, OUT_DIR: str(tmp_path / "out")}
    for activity in activities:
        result = _call(activity, config)
        if activity["type"] == "probe" and activity.get("tolerance") is True:
            assert result is True, f"{path.name}: {activity['name']} returned {result!r}"
    assert fault_ledger().active() == []
    proxies = requests.get(f"{toxiproxy_api}/proxies", timeout=5).json()
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())
    assert target.release() == "good"
    records = [json.loads(line) for line in (tmp_path / "out" / "faults.jsonl").read_text().splitlines()]
    started = [f"{r['kind']} {r['key']}" for r in records if r["event"] == "start"]
    assert started == EXPECTED_FAULTS[path.stem]
    assert len([r for r in records if r["event"] == "end"]) == len(started)
    writes = [(r.method, r.path) for r in fake.writes()]
    expected = EXPECTED_WRITES.get(path.stem, [])
    assert len(writes) == len(expected)
    assert all(m == em and ep in p for (m, p), (em, ep) in zip(writes, expected, strict=True))


APPLICABLE_DEPLOYS = {
    "Deployment": {"rolling-deploy", "bad-readiness-release"},
    "Rollout": {"blue-green-deploy", "blue-green-auto-rollback"},
}
"""Deploy experiments each chat workload can run: a Deployment rolls (and never rolls back by itself), the
chart's Argo Rollout is blue-green with the analysis that rolls back."""


@pytest.mark.parametrize("rollouts", [False, True], ids=["deployment", "argo-rollout"])
def test_deploy_experiments_apply_where_the_chart_has_their_machinery(rollouts: bool, tmp_path: Path) -> None:
    """On a Deployment, rolling deploys apply and blue-green or a system rollback are NOT APPLICABLE; on the
    chart's blue-green Rollout only blue-green applies (every experiment expecting a system rollback today
    deploys with strategy rolling); each refusal has its one-line reason, and deciding writes nothing."""
    for fake in FakeKubeApi.serving_chart(rollouts=rollouts):
        target = KubernetesTarget(name="kind", kubeconfig=str(fake.write_kubeconfig(tmp_path / "kubeconfig")))
        assert len(DEPLOYS) >= 5
        applicable = set()
        for path in DEPLOYS:
            method = yaml.safe_load(path.read_text())["method"]
            reasons = [
                fault_not_applicable(
                    target, a["provider"]["module"], a["provider"]["func"], a["provider"].get("arguments") or {}
                )
                for a in method
                if a["provider"].get("module") == "resilience.faults.deploys"
            ]
            assert reasons, path.name
            if not any(reasons):
                applicable.add(path.stem)
            assert all("\n" not in r for r in reasons)
        assert applicable == APPLICABLE_DEPLOYS["Rollout" if rollouts else "Deployment"]
        assert fake.writes() == []
