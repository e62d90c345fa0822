"""The in-cluster harness Job of deploy/chart (staging): identity, permissions, scenario and endpoints.

Offline (no API server here): rendered with helm-python-sdk; the objects' schema validity is covered by
tests/unit/test_helm_chart.py (kubernetes-validate --strict on every rendered object); this checks the
contracts between the Job, the Role, the target's options and the scenario it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from resilience.errors import ConfigError
from resilience.scenario import load_scenario
from resilience.targets.kube.api import IN_CLUSTER
from resilience.targets.kube.options import ReleaseNames, parse_options

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
STAGING = ROOT / "deploy" / "values" / "staging.yaml"


def _render(values: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    with helm.Chart.load(ROOT / "deploy" / "chart") as chart:
        files = chart.render(values=values, name="resilience", namespace="resilience")
    docs = [d for name, text in files.items() if name.endswith(".yaml") for d in yaml.safe_load_all(text) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    return _render(yaml.safe_load(STAGING.read_text()))


def _job(objects: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    [job] = [o for (kind, _), o in objects.items() if kind == "Job"]
    return job


def test_job_runs_as_its_service_account_bound_to_the_harness_role(objects: dict[Any, Any]) -> None:
    """ServiceAccount -> RoleBinding -> the least-privilege harness Role; the token is mounted in the Job only."""
    pod = _job(objects)["spec"]["template"]["spec"]
    sa = objects[("ServiceAccount", "resilience-harness")]
    binding = objects[("RoleBinding", "resilience-harness-job")]
    assert pod["serviceAccountName"] == sa["metadata"]["name"] and pod["automountServiceAccountToken"] is True
    assert sa["automountServiceAccountToken"] is False
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "resilience-harness"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "resilience-harness", "namespace": "resilience"}]
    assert ("Role", "resilience-harness") in objects
    assert pod["restartPolicy"] == "Never" and _job(objects)["spec"]["backoffLimit"] == 0


def test_job_scenario_is_valid_and_targets_the_services_in_cluster(objects: dict[Any, Any], tmp_path: Path) -> None:
    """The ConfigMap's scenario loads; targets.staging is in-cluster, guarded, with the -rw Service for PostgreSQL."""
    text = objects[("ConfigMap", "resilience-harness-scenario")]["data"]["scenario.yaml"]
    scenario = yaml.safe_load(text)
    for exp in scenario["experiments"]:  # the image holds experiments/ at /app/experiments
        exp["file"] = str(ROOT / "experiments" / Path(exp["file"]).name)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    loaded = load_scenario(path)
    assert loaded.scenario.target == "staging"
    assert "patroni-crash" not in {p.name for p in loaded.scenario.experiments}
    options = parse_options("staging", scenario["targets"]["staging"])
    assert options.in_cluster and options.allowed_contexts == (IN_CLUSTER,)
    assert options.allowed_namespaces == ("resilience",)
    assert options.endpoints is not None
    assert options.endpoints["postgres"] == "postgresql://chat@resilience-pg-rw:5432/chat"  # password: db Secret
    names = ReleaseNames.of(options)
    role = objects[("Role", "resilience-harness")]
    [secret_rule] = [r for r in role["rules"] if r["resources"] == ["secrets"]]
    assert {names.chat_secret, names.db_secret} == set(secret_rule["resourceNames"])


def test_job_command_and_results_volume(objects: dict[Any, Any]) -> None:
    """resilience run on the mounted scenario, results on the PVC the values name."""
    pod = _job(objects)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"][:5] == ["resilience", "run", "/scenario/scenario.yaml", "--target", "staging"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["results"]["persistentVolumeClaim"]["claimName"] == "resilience-results"


def test_job_without_rbac_is_refused() -> None:
    """harness.job.enabled without harness.rbac.create fails the render with the reason."""
    values = yaml.safe_load(STAGING.read_text())
    values["harness"]["rbac"]["create"] = False
    with pytest.raises(Exception, match=r"harness.job.enabled needs harness.rbac.create"):
        _render(values)


def test_job_is_off_by_default_and_on_kind() -> None:
    """kind runs the harness from the laptop: no Job, no ServiceAccount."""
    values = yaml.safe_load((ROOT / "deploy" / "values" / "kind.yaml").read_text())
    assert not [k for k in _render(values) if k[0] in ("Job", "ServiceAccount")]


def test_in_cluster_option_is_typed() -> None:
    with pytest.raises(ConfigError, match=r"targets.staging.in_cluster"):
        parse_options("staging", {"in_cluster": "maybe", "endpoints": {"chat": "x"}})


def test_network_policies_let_the_job_reach_postgres_redis_and_the_fault_proxy(objects: dict[Any, Any]) -> None:
    """With networkPolicy on, every policy's ingress admits the Job's pod labels (the harnessFrom addition)."""
    labels = _job(objects)["spec"]["template"]["metadata"]["labels"]
    policies = [o for (kind, _), o in objects.items() if kind == "NetworkPolicy"]
    assert {p["metadata"]["name"] for p in policies} >= {
        "resilience-redis",
        "resilience-postgres",
        "resilience-toxiproxy",
    }
    for policy in policies:
        peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
        admitted = [
            p for p in peers if "podSelector" in p and p["podSelector"]["matchLabels"].items() <= labels.items()
        ]
        assert admitted, f"{policy['metadata']['name']} does not admit the harness Job"


@pytest.mark.parametrize(
    ("implementation", "image", "first_arg"),
    [
        ("netfault", "registry.example.com/agent/resilience-netfault:0.1.0", "--host"),
        ("toxiproxy", "ghcr.io/shopify/toxiproxy:2.12.0", "-host=0.0.0.0"),
    ],
)
def test_fault_proxy_is_the_projects_own_by_default(implementation: str, image: str, first_arg: str) -> None:
    """toxiproxy.implementation: netfault (default; leases honoured) or the official image, each with its flags."""
    values = yaml.safe_load(STAGING.read_text())
    values["toxiproxy"]["implementation"] = implementation
    [container] = _render(values)[("Deployment", "resilience-toxiproxy")]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image and container["args"][0] == first_arg
    assert "/config/toxiproxy.json" in " ".join(container["args"])
    chart_default = yaml.safe_load((ROOT / "deploy" / "chart" / "values.yaml").read_text())["toxiproxy"]
    assert chart_default["implementation"] == "netfault"
