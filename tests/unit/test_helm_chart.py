"""The Helm chart in deploy/chart: renders and lints with the Helm SDK, validates strictly, keeps contracts.

No Kubernetes API server runs here, so these are offline checks: helm-python-sdk (Helm v4 as a library)
renders and lints the chart for the kind and staging values, every rendered core object passes
kubernetes-validate in strict mode, and the CloudNativePG Cluster is checked against the v1 CRD schema
of CloudNativePG 1.30.0 with unknown fields rejected (what the API server does with strict field
validation).
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from resilience.targets.kube.options import ReleaseNames, parse_options
from tests.support.chart import crd_validator

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "chart"
VALUES = {"kind": ROOT / "deploy" / "values" / "kind.yaml", "staging": ROOT / "deploy" / "values" / "staging.yaml"}
KIND_CONFIG = ROOT / "deploy" / "kind" / "cluster.yaml"
KUBE_VERSION = "1.31"
RELEASE = "resilience"


def _values(env: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES[env].read_text())
    return loaded


@cache
def _rendered(env: str) -> tuple[dict[str, Any], ...]:
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values=_values(env), name=RELEASE, namespace="resilience")
    docs: list[dict[str, Any]] = []
    for name, text in sorted(files.items()):
        if name.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return tuple(docs)


def _objects(env: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _rendered(env) if d["kind"] == kind}


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_chart_lints_clean_with_the_helm_sdk(env: str) -> None:
    """helm lint --strict (Helm v4 SDK) reports no warning and no error for the kind and staging values."""
    report = helm.lint(CHART, _values(env), strict=True, namespace="resilience", kube_version=f"v{KUBE_VERSION}.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == []


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_every_core_object_passes_kubernetes_validate_strict(env: str) -> None:
    """Every rendered object of a built-in kind validates against Kubernetes 1.31 with unknown fields rejected."""
    core = [d for d in _rendered(env) if not d["apiVersion"].startswith("postgresql.cnpg.io/")]
    assert len(core) >= 11
    for doc in core:
        kubernetes_validate.validate(copy.deepcopy(doc), KUBE_VERSION, strict=True)


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_cnpg_cluster_passes_the_crd_schema_strictly(env: str) -> None:
    """The CloudNativePG Cluster validates against the CNPG 1.30 v1 CRD schema with unknown fields rejected."""
    clusters = _objects(env, "Cluster")
    assert list(clusters) == [f"{RELEASE}-pg"]
    errors = [e.message for e in crd_validator("Cluster").iter_errors(clusters[f"{RELEASE}-pg"])]
    assert errors == []


def test_cnpg_schema_check_rejects_an_unknown_field() -> None:
    """The strict CRD check is not vacuous: a misspelt spec field is reported."""
    cluster = copy.deepcopy(_objects("kind", "Cluster")[f"{RELEASE}-pg"])
    cluster["spec"]["instance"] = 3
    assert any("instance" in e.message for e in crd_validator("Cluster").iter_errors(cluster))


def test_kubernetes_validate_strict_rejects_an_unknown_field() -> None:
    """kubernetes-validate --strict is not vacuous: an unknown container field fails validation."""
    deployment = copy.deepcopy(_objects("kind", "Deployment")[f"{RELEASE}-chat"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_chat_deployment_has_probes_and_well_known_labels(env: str) -> None:
    """Chat pods carry app=chat-api, probe /readyz and /healthz, and roll one surge pod at a time."""
    deployment = _objects(env, "Deployment")[f"{RELEASE}-chat"]
    template = deployment["spec"]["template"]
    container = template["spec"]["containers"][0]
    assert template["metadata"]["labels"]["app"] == "chat-api"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    env_names = {e["name"] for e in container["env"]}
    assert {"CHAT_RELEASE", "CHAT_DATABASE_URL", "CHAT_REDIS_URL", "CHAT_JWT_SECRET", "CHAT_ISSUER_SECRET"} <= env_names


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_chat_reaches_its_data_stores_through_toxiproxy(env: str) -> None:
    """CHAT_DATABASE_URL and CHAT_REDIS_URL point at the Toxiproxy Service, whose proxies are postgres and redis."""
    container = _objects(env, "Deployment")[f"{RELEASE}-chat"]["spec"]["template"]["spec"]["containers"][0]
    env_vars = {e["name"]: e.get("value") for e in container["env"]}
    assert f"@{RELEASE}-toxiproxy:5432/" in env_vars["CHAT_DATABASE_URL"]
    assert env_vars["CHAT_REDIS_URL"].startswith(f"redis://:$(REDIS_PASSWORD)@{RELEASE}-toxiproxy:6379")
    proxies = json.loads(_objects(env, "ConfigMap")[f"{RELEASE}-toxiproxy"]["data"]["toxiproxy.json"])
    assert {p["name"]: p["upstream"] for p in proxies} == {
        "postgres": f"{RELEASE}-pg-rw:5432",
        "redis": f"{RELEASE}-redis:6379",
    }


def test_pdb_and_hpa_guard_the_chat_deployment() -> None:
    """Staging has a PodDisruptionBudget and an HPA on the chat Deployment; kind keeps a fixed replica count."""
    assert _objects("staging", "PodDisruptionBudget")[f"{RELEASE}-chat"]["spec"]["maxUnavailable"] == 1
    hpa = _objects("staging", "HorizontalPodAutoscaler")[f"{RELEASE}-chat"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == f"{RELEASE}-chat" and hpa["minReplicas"] == 3
    assert _objects("kind", "HorizontalPodAutoscaler") == {}
    assert _objects("kind", "Deployment")[f"{RELEASE}-chat"]["spec"]["replicas"] == 3


def test_postgres_pods_get_the_well_known_app_label() -> None:
    """CloudNativePG instance pods inherit app=postgres, so experiments select them as on the local target."""
    cluster = _objects("kind", "Cluster")[f"{RELEASE}-pg"]["spec"]
    assert cluster["inheritedMetadata"]["labels"]["app"] == "postgres"
    assert cluster["instances"] == 3 and cluster["postgresql"]["synchronous"]["number"] == 1


def test_staging_uses_existing_secrets_and_no_node_ports() -> None:
    """Staging renders no Secret of its own and exposes nothing as a NodePort."""
    assert _objects("staging", "Secret") == {}
    assert all(s["spec"]["type"] != "NodePort" for s in _objects("staging", "Service").values())


def test_kind_node_ports_match_the_kind_port_mappings() -> None:
    """Every NodePort the kind values expose is mapped to the same port on 127.0.0.1 by the kind config."""
    node_ports = {
        p["nodePort"] for s in _objects("kind", "Service").values() for p in s["spec"]["ports"] if "nodePort" in p
    }
    config = yaml.safe_load(KIND_CONFIG.read_text())
    mappings = {
        m["containerPort"]: (m["hostPort"], m["listenAddress"])
        for node in config["nodes"]
        for m in node.get("extraPortMappings", [])
    }
    assert node_ports == set(mappings)
    assert all(mappings[p] == (p, "127.0.0.1") for p in node_ports)


def test_staging_binds_a_least_privilege_role_for_the_harness() -> None:
    """Staging renders a Role with only the harness's calls (pods delete, deployments patch, CNPG status patch)."""
    role = _objects("staging", "Role")[f"{RELEASE}-harness"]
    granted = {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    assert ("", "pods", "delete") in granted and ("apps", "deployments", "patch") in granted
    assert ("postgresql.cnpg.io", "clusters/status", "patch") in granted
    assert not any(v in {"create", "update", "*"} or r == "*" for _, r, v in granted)
    assert _objects("staging", "RoleBinding")[f"{RELEASE}-harness"]["roleRef"]["name"] == f"{RELEASE}-harness"
    assert _objects("kind", "Role") == {}


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_object_names_the_target_uses_exist_in_the_chart(env: str) -> None:
    """The Deployment, container, CNPG Cluster and Secrets the Kubernetes target addresses are in the chart."""
    values = _values(env)
    options: dict[str, Any] = {"release": RELEASE}
    if env == "staging":
        options |= {
            "endpoints": {"chat": "x"},
            "chat_secret": values["chat"]["existingSecret"],
            "db_secret": values["postgres"]["existingSecret"],
        }
    names = ReleaseNames.of(parse_options(env, options))
    deployment = _objects(env, "Deployment")[names.chat_deployment]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["name"] == names.chat_container
    assert names.pg_cluster in _objects(env, "Cluster")
    env_vars = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env_vars if "secretKeyRef" in e.get("valueFrom", {})}
    redis_secret = values["redis"].get("existingSecret") or f"{RELEASE}-redis"
    assert refs == {names.chat_secret, names.db_secret, redis_secret}
    if env == "kind":
        assert {names.chat_secret, names.db_secret} <= set(_objects(env, "Secret"))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"chat": {"replica": 3}}, "at '/chat': additional properties 'replica' not allowed"),
        ({"chat": {"replicas": "three"}}, "at '/chat/replicas': got string, want integer"),
        ({"nodePorts": {"chat": 8080}}, "/nodePorts/chat"),
    ],
)
def test_values_schema_rejects_typos_and_wrong_types(values: dict[str, Any], message: str) -> None:
    """values.schema.json makes a misspelt key, a wrong type or an out-of-range NodePort fail, naming the path."""
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError, match=re.escape(message)):
        chart.render(values=values, name=RELEASE, namespace="resilience")


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_redis_needs_a_password_that_the_chat_replicas_get(env: str) -> None:
    """Redis runs with --requirepass from a Secret (the chart makes one unless existingSecret is set), its
    probe authenticates, and the chat replicas' REDIS_PASSWORD comes from the same Secret."""
    values = _values(env)
    secret = values.get("redis", {}).get("existingSecret") or f"{RELEASE}-redis"
    redis = _objects(env, "Deployment")[f"{RELEASE}-redis"]["spec"]["template"]["spec"]["containers"][0]
    assert redis["args"][-2:] == ["--requirepass", "$(REDIS_PASSWORD)"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in redis["env"]}
    assert refs["REDIS_PASSWORD"] == refs["REDISCLI_AUTH"] == {"name": secret, "key": "password"}
    chat = _objects(env, "Deployment")[f"{RELEASE}-chat"]["spec"]["template"]["spec"]["containers"][0]
    chat_env = {e["name"]: e for e in chat["env"]}
    assert chat_env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": "password"}
    names = [e["name"] for e in chat["env"]]
    assert names.index("REDIS_PASSWORD") < names.index("CHAT_REDIS_URL")  # $(VAR) expands only earlier vars
    assert (f"{RELEASE}-redis" in _objects(env, "Secret")) is (env == "kind")


def test_staging_switches_the_token_issuer_off_and_limits_who_reaches_the_data_stores() -> None:
    """Staging: CHAT_TOKEN_ISSUER=0; NetworkPolicies let only Toxiproxy reach Redis and PostgreSQL (plus the
    instances and the CNPG operator), only the chat pods reach the proxies and only the harness Job the API."""
    chat = _objects("staging", "Deployment")[f"{RELEASE}-chat"]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e.get("value") for e in chat["env"]}["CHAT_TOKEN_ISSUER"] == "0"
    kind_chat = _objects("kind", "Deployment")[f"{RELEASE}-chat"]["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e.get("value") for e in kind_chat["env"]}["CHAT_TOKEN_ISSUER"] == "1"
    policies = _objects("staging", "NetworkPolicy")
    assert set(policies) == {f"{RELEASE}-redis", f"{RELEASE}-postgres", f"{RELEASE}-toxiproxy"}
    redis_from = policies[f"{RELEASE}-redis"]["spec"]["ingress"][0]["from"]
    # the in-cluster harness Job (harness.job, on in staging) is the one other peer admitted
    assert [p["podSelector"]["matchLabels"]["app"] for p in redis_from] == ["toxiproxy", "resilience-harness"]
    proxy_rules = policies[f"{RELEASE}-toxiproxy"]["spec"]["ingress"]
    assert len(proxy_rules) == 2 and {p["port"] for p in proxy_rules[0]["ports"]} == {5432, 6379}
    assert [p["podSelector"]["matchLabels"]["app"] for p in proxy_rules[1]["from"]] == ["resilience-harness"]
    assert _objects("kind", "NetworkPolicy") == {}


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_chat_and_postgres_spread_over_worker_nodes(env: str) -> None:
    """Chat pods spread one per node (ScheduleAnyway: a drained node's pods still start elsewhere); the
    CNPG instances carry hostname anti-affinity; kind has three workers for them."""
    pod = _objects(env, "Deployment")[f"{RELEASE}-chat"]["spec"]["template"]["spec"]
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["labelSelector"]["matchLabels"]["app"] == "chat-api" and spread["maxSkew"] == 1
    affinity = _objects(env, "Cluster")[f"{RELEASE}-pg"]["spec"]["affinity"]
    assert affinity["enablePodAntiAffinity"] is True and affinity["topologyKey"] == "kubernetes.io/hostname"
    workers = [n for n in yaml.safe_load(KIND_CONFIG.read_text())["nodes"] if n["role"] == "worker"]
    assert len(workers) == 3


def test_node_drain_cluster_role_is_opt_in_and_bound_to_the_job() -> None:
    """harness.rbac.nodes renders a ClusterRole (nodes list/patch, pods get/list, pods/eviction create) bound
    to the subjects and the harness Job's ServiceAccount; the staging values leave it off."""
    assert _objects("staging", "ClusterRole") == {}
    values = _values("staging")
    values["harness"]["rbac"]["nodes"] = True
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values=values, name=RELEASE, namespace="resilience")
    docs = [d for name, text in files.items() if name.endswith(".yaml") for d in yaml.safe_load_all(text) if d]
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    (binding,) = [d for d in docs if d["kind"] == "ClusterRoleBinding"]
    granted = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert granted == {
        ("nodes", "list"),
        ("nodes", "patch"),
        ("pods", "get"),
        ("pods", "list"),
        ("pods/eviction", "create"),
    }
    assert {"kind": "ServiceAccount", "name": f"{RELEASE}-harness", "namespace": "resilience"} in binding["subjects"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    for doc in (role, binding):
        kubernetes_validate.validate(copy.deepcopy(doc), KUBE_VERSION, strict=True)
