"""Every Kubernetes API call the target makes is allowed by the chart's harness Role, and nothing more is granted.

Each public method of ``KubeApi`` (the only module that talks to the API server) runs against the fake API
server (``tests/support/fake_kube_api.py``, a mock: no kube-apiserver can run here), which records the HTTP
requests; each request is mapped to (API group, resource[/subresource], verb, name) the way kube-apiserver's
RBAC authorizer sees it, and checked against the Role rendered from deploy/chart with the staging values
(helm-python-sdk). A new API method without an entry here fails the test, so RBAC and code cannot drift.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from chaosk8s.deployment.probes import deployment_available_and_healthy

from resilience.context import OUT_DIR, RunContext, share_target
from resilience.faults import revert_all_faults
from resilience.faults.nodes import drain_node
from resilience.targets.kube import argo
from resilience.targets.kube.api import KubeApi, connect
from resilience.targets.kube.nodes import chaosk8s_secrets
from resilience.targets.kube.options import ReleaseNames, parse_options
from resilience.targets.kube.rollout import scale_patch
from resilience.targets.kubernetes import KubernetesTarget
from tests.support import fake_kube_rollouts
from tests.support.fake_kube_api import FakeKubeApi, Recorded

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "resilience"
STAGING_VALUES = ROOT / "deploy" / "values" / "staging.yaml"
ENDPOINTS = {k: f"http://{k}.invalid" for k in ("chat", "toxiproxy", "postgres", "redis")}
NAMES = ReleaseNames.of(parse_options("staging", {"values": str(STAGING_VALUES), "endpoints": ENDPOINTS}))
"""What the target reads when the scenario points targets.staging.values at the file the chart used."""

CALLS: dict[str, Callable[[KubeApi], Any]] = {
    "version": lambda api: api.version(),
    "namespace_exists": lambda api: api.namespace_exists(),
    "list_pods": lambda api: api.list_pods("app=chat-api"),
    "delete_pod": lambda api: api.delete_pod("resilience-redis-0", 0),
    "list_endpoint_slices": lambda api: api.list_endpoint_slices("resilience-pg-rw"),
    "read_deployment": lambda api: api.read_deployment("resilience-chat"),
    "patch_deployment": lambda api: api.patch_deployment(
        "resilience-chat", scale_patch(api.read_deployment("resilience-chat"), 3)
    ),
    "list_replicasets": lambda api: api.list_replicasets("app=chat-api"),
    "list_nodes": lambda api: api.list_nodes(),
    "read_secret": lambda api: [api.read_secret(NAMES.db_secret), api.read_secret(NAMES.chat_secret)],
    "read_cluster": lambda api: api.read_cluster("resilience-pg"),
    "patch_cluster_status": lambda api: api.patch_cluster_status("resilience-pg", {"status": {}}),
    "read_rollout": lambda api: api.read_rollout("resilience-chat"),
    "patch_rollout": lambda api: api.patch_rollout("resilience-chat", {"spec": {"replicas": 3}}),
    "patch_rollout_status": lambda api: api.patch_rollout_status("resilience-chat", argo.promote_patch()),
}
"""One call of each KubeApi method with the names the chart's objects have."""

NOT_NAMESPACED = {
    ("", "", "get", "/version"): "non-resource URL, allowed to every authenticated user (system:discovery)",
    ("", "namespaces", "get", "resilience"): "cluster-scoped; a Role cannot grant it and the target reads 403 "
    "as 'the namespace exists'",
    ("", "nodes", "list", ""): "cluster-scoped: the ClusterRole of harness.rbac.nodes grants it "
    "(test_node_drain_calls_are_allowed_by_the_cluster_role)",
}


def _rbac(r: Recorded) -> tuple[str, str, str, str]:
    """(apiGroup, resource[/sub], verb, name) of a request, as the RBAC authorizer derives them."""
    parts = r.path.strip("/").split("/")
    if parts == ["version"]:
        return "", "", "get", "/version"
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    if rest[0] == "namespaces" and len(rest) == 2:
        return group, "namespaces", "get", rest[1]
    if rest[0] == "namespaces":
        rest = rest[2:]
    resource, name, sub = rest[0], (rest[1] if len(rest) > 1 else ""), (rest[2] if len(rest) > 2 else "")
    verb = {"GET": "get" if name else "list", "DELETE": "delete", "PATCH": "patch", "POST": "create"}[r.method]
    return group, f"{resource}/{sub}" if sub else resource, verb, name


def _namespaced(r: Recorded) -> bool:
    return "/namespaces/resilience/" in r.path


def _role_rules(kind: str = "Role") -> list[dict[str, Any]]:
    values = yaml.safe_load(STAGING_VALUES.read_text())
    values["harness"]["rbac"]["nodes"] = True
    with helm.Chart.load(ROOT / "deploy" / "chart") as chart:
        files = chart.render(values=values, name=RELEASE, namespace="resilience")
    docs = [d for name, text in files.items() if name.endswith(".yaml") for d in yaml.safe_load_all(text) if d]
    [role] = [
        d
        for d in docs
        if d["kind"] == kind and d["metadata"]["name"].endswith("-harness" if kind == "Role" else "-harness-nodes")
    ]
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def _allowed(rules: list[dict[str, Any]], group: str, resource: str, verb: str, name: str) -> bool:
    return any(
        group in rule["apiGroups"]
        and resource in rule["resources"]
        and verb in rule["verbs"]
        and (not rule.get("resourceNames") or name in rule["resourceNames"])
        for rule in rules
    )


def test_every_api_method_is_exercised() -> None:
    """CALLS covers every public method of KubeApi (add the new one here when the target learns a call)."""
    public = {n for n, f in inspect.getmembers(KubeApi, inspect.isfunction) if not n.startswith("_")}
    assert public == set(CALLS)


def test_every_call_is_allowed_by_the_role_and_every_grant_is_used(fake: FakeKubeApi, tmp_path: Path) -> None:
    """Requests of all KubeApi methods are within the harness Role; the Role grants no verb the code never uses."""
    fake.add_secret(NAMES.db_secret, {"username": "chat", "password": "pw"})
    fake.add_secret(NAMES.chat_secret, {"issuer-secret": "issuer"})
    _scope, api_client = connect(str(fake.write_kubeconfig(tmp_path / "kubeconfig")), None, "resilience")
    api = KubeApi(api_client, "resilience", timeout_s=5)
    fake.add_nodes(3)
    # the chart's Argo Rollout (argoRollouts.enabled) under the chat's name, so its calls answer 200
    fake_kube_rollouts.add_rollout(fake, "resilience-chat", {"app": "chat-api", "app.kubernetes.io/instance": RELEASE})
    for call in CALLS.values():
        call(api)
    # the chaostoolkit-kubernetes probe of experiments/node-drain.yaml (namespaced: the Role)
    secrets = chaosk8s_secrets(_scope, api_client.configuration)
    assert deployment_available_and_healthy("resilience-chat", "resilience", secrets=secrets) is True
    rules = _role_rules()
    used = {_rbac(r) for r in fake.requests}
    denied = [u for u in used if u not in NOT_NAMESPACED and not _allowed(rules, *u)]
    assert denied == [], f"the chart's harness Role does not allow: {denied}"
    granted = {
        (g, res, v) for rule in rules for g in rule["apiGroups"] for res in rule["resources"] for v in rule["verbs"]
    }
    assert granted == {(g, res, v) for g, res, v, _name in used if (g, res, v, _name) not in NOT_NAMESPACED}


def test_the_check_catches_a_missing_grant() -> None:
    """Negative control: without the clusters/status rule a switchover's patch is denied."""
    rules = [r for r in _role_rules() if r["resources"] != ["clusters/status"]]
    assert not _allowed(rules, "postgresql.cnpg.io", "clusters/status", "patch", "resilience-pg")
    assert not _allowed(_role_rules(), "", "secrets", "get", "someone-elses-secret")


def test_node_drain_calls_are_allowed_by_the_cluster_role(
    fake: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node drain and its revert (chaosk8s drain_nodes, uncordon_node): every request is allowed by the
    Role (in the release's namespace) or the ClusterRole of harness.rbac.nodes, which grants nothing else."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    fake.add_nodes(3)
    target = KubernetesTarget(name="kind", kubeconfig=str(fake.write_kubeconfig(tmp_path / "kubeconfig")))
    target.state_dir = tmp_path / "state"  # type: ignore[attr-defined]
    config = {"target": "kind", "state_dir": ""}
    share_target(RunContext.of(config), target)
    start = len(fake.requests)
    drain_node(configuration={**config, OUT_DIR: str(tmp_path / "out")})
    assert revert_all_faults()
    requests = fake.requests[start:]
    assert any(r.path.endswith("/eviction") for r in requests)
    role, cluster_role = _role_rules(), _role_rules("ClusterRole")
    denied = [
        _rbac(r)
        for r in requests
        if not (_namespaced(r) and _allowed(role, *_rbac(r))) and not _allowed(cluster_role, *_rbac(r))
    ]
    assert denied == []
    granted = {
        (g, res, v)
        for rule in cluster_role
        for g in rule["apiGroups"]
        for res in rule["resources"]
        for v in rule["verbs"]
    }
    used = {(g, res, v) for g, res, v, _name in map(_rbac, requests)}
    assert granted <= used
