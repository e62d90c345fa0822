"""Pure parts of the Kubernetes target: options, victim counts, rollout status, releases, CNPG health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from resilience.errors import ConfigError, TargetError
from resilience.scenario import load_scenario
from resilience.targets.kube.cnpg import cluster_health, routing_health
from resilience.targets.kube.options import DEFAULT_NODE_PORTS, parse_options
from resilience.targets.kube.pods import victim_count
from resilience.targets.kube.rollout import release_of, rollout_state, with_release

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _deployment(**status: Any) -> dict[str, Any]:
    return {"metadata": {"generation": 2}, "spec": {"replicas": 3}, "status": status}


@pytest.mark.parametrize(
    ("matching", "count", "percent", "expected"),
    [(3, None, None, 1), (3, 2, None, 2), (3, None, 50, 2), (3, None, 100, 3), (10, None, 1, 1)],
)
def test_victim_count(matching: int, count: int | None, percent: float | None, expected: int) -> None:
    """Default 1; count as given; percent of the matching pods rounded up, at least one."""
    assert victim_count(matching, count, percent) == expected


@pytest.mark.parametrize(("count", "percent"), [(1, 50.0), (0, None), (None, 0.0), (None, 150.0)])
def test_victim_count_rejects_bad_arguments(count: int | None, percent: float | None) -> None:
    """count and percent together, a zero count or a percent outside (0, 100] are ConfigErrors."""
    with pytest.raises(ConfigError):
        victim_count(3, count, percent)


def test_victim_count_refuses_more_than_match() -> None:
    """More victims than matching pods is a TargetError, not a silent cap."""
    with pytest.raises(TargetError):
        victim_count(2, 3, None)


@pytest.mark.parametrize(
    ("status", "complete", "reason"),
    [
        ({"observedGeneration": 1}, False, "spec update to be observed"),
        ({"observedGeneration": 2, "updatedReplicas": 1, "replicas": 4}, False, "1 of 3 new replicas updated"),
        (
            {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4, "availableReplicas": 3},
            False,
            "1 old replicas pending termination",
        ),
        (
            {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2},
            False,
            "2 of 3 updated replicas available",
        ),
        ({"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3}, True, "3 replicas"),
        (
            {"observedGeneration": 2, "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]},
            False,
            "progress deadline exceeded",
        ),
    ],
)
def test_rollout_state_follows_kubectl_rollout_status(status: dict[str, Any], complete: bool, reason: str) -> None:
    """Rollout completion uses kubectl's rules: observed generation, updated, old pending, available."""
    ok, why = rollout_state(_deployment(**status))
    assert ok is complete and reason in why


def test_with_release_sets_or_adds_chat_release() -> None:
    """with_release replaces CHAT_RELEASE (even a valueFrom one) or adds it, without touching the input."""
    template = {"spec": {"containers": [{"name": "chat", "env": [{"name": "CHAT_RELEASE", "valueFrom": {}}]}]}}
    out = with_release(template, "bad-latency", "chat")
    assert out["spec"]["containers"][0]["env"] == [{"name": "CHAT_RELEASE", "value": "bad-latency"}]
    assert template["spec"]["containers"][0]["env"] == [{"name": "CHAT_RELEASE", "valueFrom": {}}]
    bare = with_release({"spec": {"containers": [{"name": "chat"}]}}, "bad-errors", "chat")
    assert release_of({"spec": {"template": bare}}, "chat") == "bad-errors"


def test_with_release_names_a_missing_container() -> None:
    """A template without the configured container is a TargetError naming it."""
    with pytest.raises(TargetError, match="no container 'chat'"):
        with_release({"spec": {"containers": [{"name": "web"}]}}, "good", "chat")


def test_cluster_health_reports_why_not() -> None:
    """A switchover in progress or a missing ready instance keeps the CNPG cluster unhealthy, with the reason."""
    cluster = {
        "spec": {"instances": 2},
        "status": {
            "phase": "Cluster in healthy state",
            "currentPrimary": "a",
            "targetPrimary": "b",
            "readyInstances": 2,
        },
    }
    assert cluster_health([], cluster) == (False, "primary a -> b in progress")
    cluster["status"]["targetPrimary"] = "a"
    assert cluster_health([], cluster) == (False, "0 of 2 instances ready")


def test_options_reject_unknown_fields_naming_them() -> None:
    """An unknown option is a ConfigError naming targets.<name>.<field>."""
    with pytest.raises(ConfigError, match=r"targets\.kind\.namespaces: Extra inputs are not permitted"):
        parse_options("kind", {"namespaces": "x"})


def test_staging_requires_endpoints() -> None:
    """Staging without endpoints is a ConfigError: there are no NodePorts to fall back on."""
    with pytest.raises(ConfigError, match=r"targets\.staging\.endpoints: required"):
        parse_options("staging", {})


def test_values_file_overrides_node_ports(tmp_path: Path) -> None:
    """nodePorts of a Helm values file override the default NodePorts."""
    values = tmp_path / "values.yaml"
    values.write_text("nodePorts:\n  chat: 31080\n")
    assert parse_options("kind", {"values": str(values)}).node_ports["chat"] == 31080


def test_values_file_names_the_existing_secrets_unless_options_do(tmp_path: Path) -> None:
    """chat/postgres.existingSecret of the values file are the secrets the target reads; explicit options win."""
    values = tmp_path / "values.yaml"
    values.write_text("chat: {existingSecret: chat-secrets}\npostgres: {existingSecret: chat-db-app}\n")
    parsed = parse_options("kind", {"values": str(values), "db_secret": "mine"})
    assert (parsed.chat_secret, parsed.db_secret) == ("chat-secrets", "mine")


def test_default_node_ports_match_chart_and_kind_config() -> None:
    """The target's default NodePorts equal the chart's nodePorts and the kind config's port mappings."""
    chart = yaml.safe_load((ROOT / "deploy" / "chart" / "values.yaml").read_text())["nodePorts"]
    kind = yaml.safe_load((ROOT / "deploy" / "kind" / "cluster.yaml").read_text())
    mapped = {m["hostPort"] for n in kind["nodes"] for m in n.get("extraPortMappings", [])}
    assert chart == DEFAULT_NODE_PORTS
    assert mapped == set(DEFAULT_NODE_PORTS.values())


def test_scenario_targets_section_names_known_targets_only(tmp_path: Path) -> None:
    """A scenario's targets section accepts local/kind/staging options and names an unknown target in the error."""
    experiment = ROOT / "experiments" / "pod-kill.yaml"
    base = f"name: s\nexperiments:\n  - {{name: pod-kill, file: {experiment}, recovery_target_s: 15}}\n"
    good = tmp_path / "good.yaml"
    good.write_text(base + "targets:\n  kind: {namespace: chat, seed: 3}\n")
    assert load_scenario(good).scenario.targets == {"kind": {"namespace": "chat", "seed": 3}}
    bad = tmp_path / "bad.yaml"
    bad.write_text(base + "targets:\n  prod: {}\n")
    with pytest.raises(ConfigError, match="unknown target names \\['prod'\\]"):
        load_scenario(bad)


def test_routing_health_counts_only_ready_endpoints() -> None:
    """The -rw Service is routed when its ready endpoints are exactly the primary; a not-ready old one is ignored."""

    def ep(name: str, ready: bool) -> dict[str, Any]:
        return {"conditions": {"ready": ready}, "targetRef": {"kind": "Pod", "name": name}}

    slices = [{"endpoints": [ep("pg-2", True), ep("pg-1", False)]}]
    assert routing_health("pg-2", slices, "pg-rw") == (True, "service pg-rw routes to pg-2")
    assert routing_health("pg-1", slices, "pg-rw")[0] is False
    assert routing_health("pg-1", [], "pg-rw") == (False, "service pg-rw routes to nothing, not pg-1")
