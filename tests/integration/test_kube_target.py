"""The Kubernetes target against an HTTP-level fake API server (tests/support/fake_kube_api.py).

No Kubernetes API server can run on these machines, so every test here talks to a fake: a real HTTP
server on 127.0.0.1 that speaks enough of the REST API for the target's requests and records them. The
tests assert the exact requests the target sends (label selectors, deletes with their grace periods, JSON
patches of the Deployment, the rollback to the previous ReplicaSet, the CloudNativePG status patch), and
that the safety guard refuses a context before any request is sent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import incluster_config

from resilience.errors import ConfigError, TargetError
from resilience.targets import get_target
from resilience.targets.base import FailoverMode, Target
from resilience.targets.kubernetes import KubernetesTarget
from tests.support.fake_kube_api import CHAT_DEPLOYMENT_PATH, FakeKubeApi, Recorded, kube_target
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

NS_PATH = "/api/v1/namespaces/resilience"


def _deletes(fake: FakeKubeApi) -> list[Recorded]:
    return [r for r in fake.requests if r.method == "DELETE"]


def _patches(fake: FakeKubeApi) -> list[Recorded]:
    return [r for r in fake.requests if r.method == "PATCH"]


def _release_in(template: dict[str, Any]) -> str:
    env = template["spec"]["containers"][0]["env"]
    return str(next(e["value"] for e in env if e["name"] == "CHAT_RELEASE"))


def test_get_target_builds_a_kubernetes_target_satisfying_the_protocol(fake: FakeKubeApi, tmp_path: Path) -> None:
    """get_target("kind", ...) returns a KubernetesTarget that satisfies the Target protocol, sending no request."""
    target = kube_target(fake, tmp_path)
    assert isinstance(target, Target) and target.name == "kind"
    assert target.scope.context == "kind-resilience" and fake.requests == []


def test_pods_lists_with_the_label_selector(fake: FakeKubeApi, tmp_path: Path) -> None:
    """pods(selector) sends GET pods?labelSelector=<selector> in the target namespace and maps the pods."""
    pods = kube_target(fake, tmp_path).pods("app=chat-api")
    assert len(pods) == 3 and all(p.ready and p.labels["app"] == "chat-api" and p.pid is None for p in pods)
    request = fake.requests[-1]
    assert (request.method, request.path) == ("GET", f"{NS_PATH}/pods")
    assert request.query == {"labelSelector": ["app=chat-api"]}


def test_bad_selector_is_refused_before_any_request(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A malformed label selector is a ConfigError and reaches no API server."""
    with pytest.raises(ConfigError, match="invalid label selector"):
        kube_target(fake, tmp_path).pods("app in (chat")
    assert fake.requests == []


def test_plan_kill_lists_exactly_the_pods_kill_deletes(fake: FakeKubeApi, tmp_path: Path) -> None:
    """With a seed, plan_kill (dry run) names the same pods kill then deletes, and itself deletes nothing."""
    target = kube_target(fake, tmp_path, seed=42)
    planned = target.plan_kill("app=chat-api", count=2)
    assert _deletes(fake) == []
    killed = target.kill("app=chat-api", count=2)
    assert [p.name for p in killed] == [p.name for p in planned]
    assert [(r.path, r.query) for r in _deletes(fake)] == [
        (f"{NS_PATH}/pods/{p.name}", {"gracePeriodSeconds": ["0"]}) for p in planned
    ]


def test_kill_by_percent_with_sigterm_uses_the_pods_grace_period(fake: FakeKubeApi, tmp_path: Path) -> None:
    """percent=50 of 3 pods deletes 2 (rounded up); SIGTERM sends no gracePeriodSeconds (the pod's own applies)."""
    victims = kube_target(fake, tmp_path).kill("app=chat-api", percent=50, signal="SIGTERM")
    assert len(victims) == 2
    assert [r.query for r in _deletes(fake)] == [{}, {}]


def test_kill_refuses_a_signal_the_api_cannot_send(fake: FakeKubeApi, tmp_path: Path) -> None:
    """SIGSTOP cannot be delivered through the API: ConfigError, and no request is sent."""
    with pytest.raises(ConfigError, match="SIGKILL or SIGTERM"):
        kube_target(fake, tmp_path).kill("app=chat-api", signal="SIGSTOP")
    assert fake.requests == []


def test_kill_more_pods_than_match_is_refused_without_deleting(fake: FakeKubeApi, tmp_path: Path) -> None:
    """Asking for 4 of 3 pods raises TargetError and deletes nothing."""
    with pytest.raises(TargetError, match="asked for 4 pod\\(s\\) but only 3 match"):
        kube_target(fake, tmp_path).kill("app=chat-api", count=4)
    assert _deletes(fake) == []


def test_wait_ready_waits_for_replacements_after_a_kill(fake: FakeKubeApi, tmp_path: Path) -> None:
    """After a kill, wait_ready returns once as many pods as before are ready again (the ReplicaSet replaced them)."""
    target = kube_target(fake, tmp_path)
    killed = target.kill("app=chat-api", count=1)
    target.wait_ready("app=chat-api", timeout=30)
    names = {p.name for p in target.pods("app=chat-api")}
    assert len(names) == 3 and killed[0].name not in names


def test_wait_ready_times_out_with_one_line(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A pod that never becomes ready makes wait_ready raise TargetError naming the selector and the count."""
    fake.add_pod("stuck-0", {"app": "stuck"}, ready=False)
    with pytest.raises(TargetError, match="pods 'app=stuck' ready not reached after 1 s: 0 of 1 ready"):
        kube_target(fake, tmp_path).wait_ready("app=stuck", timeout=1)


def test_rollout_patches_chat_release_and_records_the_previous_replicaset(fake: FakeKubeApi, tmp_path: Path) -> None:
    """rollout sends one merge patch: the resourceVersion read, the new CHAT_RELEASE, the RS to roll back to."""
    target = kube_target(fake, tmp_path)
    old_rs = next(iter(fake.replicasets.values()))
    old_hash = old_rs["metadata"]["labels"]["pod-template-hash"]
    read_rv = fake.deployments["resilience-chat"]["metadata"]["resourceVersion"]
    target.rollout("bad-errors", timeout=10)
    [patch] = _patches(fake)
    assert (patch.path, patch.content_type) == (CHAT_DEPLOYMENT_PATH, "application/merge-patch+json")
    assert patch.body["metadata"]["resourceVersion"] == read_rv
    assert _release_in(patch.body["spec"]["template"]) == "bad-errors"
    assert patch.body["metadata"]["annotations"] == {"resilience/rollback-to": old_hash}
    assert target.release() == "bad-errors"


def test_rollout_of_an_image_reference_patches_the_image(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A release that looks like an image reference replaces the chat container's image, not CHAT_RELEASE."""
    target = kube_target(fake, tmp_path)
    target.rollout("registry.example.com/agent/chat:0.2.0", timeout=10)
    template = _patches(fake)[0].body["spec"]["template"]
    assert template["spec"]["containers"][0]["image"] == "registry.example.com/agent/chat:0.2.0"
    assert _release_in(template) == "good"


def test_stalled_rollout_raises_and_rollback_restores_the_old_replicaset(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A release that never gets ready stalls the rollout (TargetError); rollback puts the old RS template back."""
    fake.stalled_releases.add("bad-readiness")
    target = kube_target(fake, tmp_path)
    old_rs = next(iter(fake.replicasets.values()))
    expected = {**old_rs["spec"]["template"]}
    expected["metadata"] = {
        "labels": {
            k: v for k, v in old_rs["spec"]["template"]["metadata"]["labels"].items() if k != "pod-template-hash"
        }
    }
    with pytest.raises(TargetError, match="rollout of release 'bad-readiness' not reached after 1 s"):
        target.rollout("bad-readiness", timeout=1)
    assert target.rollback(timeout=10) == "good"
    rollback = _patches(fake)[-1]
    assert rollback.body["metadata"]["annotations"]["resilience/rollback-to"] is None  # merge patch: remove
    deployment = fake.deployments["resilience-chat"]
    assert deployment["spec"]["template"] == expected
    annotations = deployment["metadata"]["annotations"]
    assert "resilience/rollback-to" not in annotations
    assert annotations["resilience/rolled-back-to"] == old_rs["metadata"]["labels"]["pod-template-hash"]
    rs_revisions = {
        rs["metadata"]["name"]: rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        for rs in fake.replicasets.values()
    }
    assert rs_revisions[old_rs["metadata"]["name"]] == "3"


def test_rollback_is_idempotent(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A second rollback after a rollback sends no patch and reports the same release."""
    target = kube_target(fake, tmp_path)
    target.rollout("bad-latency", timeout=10)
    assert target.rollback(timeout=10) == "good"
    patches = len(_patches(fake))
    assert target.rollback(timeout=10) == "good"
    assert len(_patches(fake)) == patches


def test_chained_rollouts_roll_back_to_the_release_before_the_first(fake: FakeKubeApi, tmp_path: Path) -> None:
    """Two rollouts in a row (bad-errors, then bad-latency) roll back to the release before the first one."""
    target = kube_target(fake, tmp_path)
    target.rollout("bad-errors", timeout=10)
    target.rollout("bad-latency", timeout=10)
    assert target.rollback(timeout=10) == "good"


def test_rollback_without_a_harness_rollout_undoes_to_the_previous_revision(fake: FakeKubeApi, tmp_path: Path) -> None:
    """With no recorded rollout (e.g. a release deployed by helm), rollback returns to the previous revision."""
    target = kube_target(fake, tmp_path)
    target.rollout("bad-errors", timeout=10)
    annotations = fake.deployments["resilience-chat"]["metadata"]["annotations"]
    annotations.pop("resilience/rollback-to")
    assert target.rollback(timeout=10) == "good"
    assert fake.deployments["resilience-chat"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_failover_deletes_the_primary_pod_at_once(fake: FakeKubeApi, tmp_path: Path) -> None:
    """primary-crash deletes the CNPG primary pod with gracePeriodSeconds=0; the operator promotes a replica."""
    target = kube_target(fake, tmp_path)
    assert target.db_primary() == "resilience-pg-1"
    assert target.failover_db(FailoverMode.PRIMARY_CRASH) == "resilience-pg-1"
    assert [(r.path, r.query) for r in _deletes(fake)] == [
        (f"{NS_PATH}/pods/resilience-pg-1", {"gracePeriodSeconds": ["0"]})
    ]
    target.wait_db_healthy(timeout=10)
    assert target.db_primary() == "resilience-pg-2"
    lists = [r for r in fake.requests if r.path == f"{NS_PATH}/pods"]
    assert lists[0].query == {"labelSelector": ["cnpg.io/cluster=resilience-pg,!cnpg.io/jobRole"]}


def test_switchover_patches_the_cluster_status_like_cnpg_promote(fake: FakeKubeApi, tmp_path: Path) -> None:
    """switchover sends a merge patch of the Cluster status: targetPrimary = first ready replica, guarded by version."""
    target = kube_target(fake, tmp_path)
    version = fake.clusters["resilience-pg"]["metadata"]["resourceVersion"]
    assert target.failover_db(FailoverMode.SWITCHOVER) == "resilience-pg-1"
    [patch] = _patches(fake)
    assert patch.path == "/apis/postgresql.cnpg.io/v1/namespaces/resilience/clusters/resilience-pg/status"
    assert patch.content_type == "application/merge-patch+json"
    assert patch.body["metadata"] == {"resourceVersion": version}
    assert patch.body["status"]["targetPrimary"] == "resilience-pg-2"
    assert patch.body["status"]["phase"] == "Switchover in progress"
    assert target.db_primary() == "resilience-pg-2"


@pytest.mark.parametrize("mode", [FailoverMode.PATRONI_CRASH, FailoverMode.POSTMASTER_KILL])
def test_failover_modes_without_a_cnpg_equivalent_are_refused(
    mode: FailoverMode, fake: FakeKubeApi, tmp_path: Path
) -> None:
    """patroni-crash / postmaster-kill: a one-line ConfigError saying why, and nothing is deleted."""
    with pytest.raises(ConfigError, match=f"failover mode {mode.value} is not applicable on Kubernetes: "):
        kube_target(fake, tmp_path).failover_db(mode)
    assert fake.writes() == []


def test_db_nodes_report_roles_and_sync_standbys(fake: FakeKubeApi, tmp_path: Path) -> None:
    """db_nodes maps CNPG instance pods to one running primary and streaming synchronous standbys."""
    nodes = kube_target(fake, tmp_path).db_nodes()
    assert [(n.name, n.role, n.state, n.sync) for n in nodes] == [
        ("resilience-pg-1", "primary", "running", False),
        ("resilience-pg-2", "replica", "streaming", True),
        ("resilience-pg-3", "replica", "streaming", True),
    ]


def test_up_checks_health_and_returns_kind_endpoints(fake: FakeKubeApi, tmp_path: Path) -> None:
    """up reports each component healthy, checks chat and Toxiproxy answer on their NodePorts, returns the URLs."""
    port = int(fake.url.rsplit(":", 1)[1])
    ports = {"chat": port, "toxiproxy": port, "postgres": 30432, "redis": 30379}
    lines: list[str] = []
    endpoints = kube_target(fake, tmp_path, node_ports=ports).up(progress=lines.append)
    assert [line.split(" (")[0] for line in lines[1:]] == [
        "chat workload healthy",
        "redis healthy",
        "toxiproxy healthy",
        "postgres healthy",
        f"{fake.url}/readyz answers",
        f"{fake.url}/version answers",
    ]
    assert endpoints.chat == fake.url and endpoints.toxiproxy == fake.url
    assert endpoints.postgres == "postgresql://chat:s3cret%2F%2B@127.0.0.1:30432/chat"
    assert fake.writes() == []


def test_default_kind_endpoints_are_the_mapped_node_ports(fake: FakeKubeApi, tmp_path: Path) -> None:
    """Without overrides the kind endpoints are the NodePorts of deploy/kind/cluster.yaml on 127.0.0.1."""
    endpoints = kube_target(fake, tmp_path).endpoints()
    assert endpoints.chat == "http://127.0.0.1:30080" and endpoints.toxiproxy == "http://127.0.0.1:30474"
    assert endpoints.redis == "redis://127.0.0.1:30379/0"


def test_up_fails_when_the_chat_node_port_does_not_answer(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A healthy cluster whose chat NodePort is not reachable from the harness fails up with the URL named."""
    dead = free_port()
    ports = {"chat": dead, "toxiproxy": dead, "postgres": 30432, "redis": 30379}
    with pytest.raises(TargetError, match=f"http://127.0.0.1:{dead}/readyz reachable not reached after 1 s"):
        kube_target(fake, tmp_path, node_ports=ports, up_timeout_s=1).up()


def test_up_refuses_a_missing_namespace(fake: FakeKubeApi, tmp_path: Path) -> None:
    """up on a cluster without the release's namespace fails with one line telling how to install the chart."""
    fake.namespaces.clear()
    with pytest.raises(TargetError, match=r"namespace 'resilience' does not exist .* make kind-up"):
        kube_target(fake, tmp_path).up()


def test_staging_uses_the_configured_endpoints(fake: FakeKubeApi, tmp_path: Path) -> None:
    """Staging endpoints come from the scenario's URLs; a database URL without a password gets the Secret's."""
    urls = {
        "chat": "https://chat.staging",
        "toxiproxy": "http://tp.staging:8474",
        "postgres": "postgresql://chat:given@db.staging/chat",
        "redis": "redis://redis.staging:6379/0",
    }
    target = kube_target(fake, tmp_path, "staging", allowed_contexts=["kind-resilience"], endpoints=urls)
    assert target.endpoints().to_json() == {**urls, "prometheus": None}
    assert fake.requests == []
    no_password = {**urls, "postgres": "postgresql://chat@resilience-pg-rw:5432/chat"}
    target = kube_target(fake, tmp_path, "staging", allowed_contexts=["kind-resilience"], endpoints=no_password)
    assert target.endpoints().postgres == "postgresql://chat:s3cret%2F%2B@resilience-pg-rw:5432/chat"


def test_in_cluster_uses_the_service_account_and_refuses_outside_a_pod(
    fake: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """in_cluster: the pod's token and CA with context 'in-cluster' (guarded); outside a pod, one-line ConfigError."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match=r"in_cluster: .*run inside a pod"):
        get_target("staging", in_cluster=True, allowed_contexts=["in-cluster"], endpoints={"chat": "x"})
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("fake-token")
    (sa / "ca.crt").write_text("not used over http")
    host, port = fake.url.removeprefix("http://").split(":")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(sa / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(sa / "ca.crt"))
    with pytest.raises(ConfigError, match="context 'in-cluster'"):
        get_target("staging", in_cluster=True, endpoints={"chat": "x"})
    target: Any = get_target("staging", in_cluster=True, allowed_contexts=["in-cluster"], endpoints={"chat": "x"})
    assert target.scope.context == "in-cluster" and target.scope.server == f"https://{host}:{port}"


def test_status_lists_the_release_pods_and_checks(fake: FakeKubeApi, tmp_path: Path) -> None:
    """status lists live pods of the release (selector app.kubernetes.io/instance) with health, plus chat/db checks.

    A finished Job pod (CNPG's initdb) carries the release labels too; it is left out instead of counting as down.
    """
    fake.add_pod("resilience-pg-1-initdb-x", {"app": "postgres", "app.kubernetes.io/instance": "resilience"})
    fake.pods["resilience-pg-1-initdb-x"]["status"]["phase"] = "Succeeded"
    status = kube_target(fake, tmp_path).status().to_json()
    assert status["healthy"] is True and len(status["components"]) == 5
    assert status["checks"]["postgres"]["healthy"] is True
    lists = [r.query for r in fake.requests if r.path == f"{NS_PATH}/pods"]
    assert lists[0] == {"labelSelector": ["app.kubernetes.io/instance=resilience"]}


def test_issuer_secret_is_read_from_the_chat_secret(fake: FakeKubeApi, tmp_path: Path) -> None:
    """issuer_secret decodes issuer-secret from the <release>-chat Secret."""
    assert kube_target(fake, tmp_path).issuer_secret() == "issuer-xyz"


def test_guard_refuses_a_production_context_before_any_request(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A production-looking current context is refused at construction, and the API server sees no request."""
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig", context="prod-eu", cluster="prod-eu")
    with pytest.raises(ConfigError, match="prod-eu"):
        get_target("staging", kubeconfig=str(kubeconfig), allowed_contexts=["*"], endpoints={"chat": "x"})
    assert fake.requests == []


def test_guard_refuses_a_namespace_the_scenario_does_not_allow(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A namespace outside allowed_namespaces is refused at construction; nothing is sent."""
    with pytest.raises(ConfigError, match="namespace 'payments' is not allowed"):
        kube_target(fake, tmp_path, namespace="payments", allowed_namespaces=["resilience"])
    assert fake.requests == []


def test_unreachable_api_server_is_one_target_error(fake: FakeKubeApi, tmp_path: Path) -> None:
    """With the API server gone, a call fails with one TargetError naming the server."""
    target = kube_target(fake, tmp_path, request_timeout_s=2)
    fake.stop()
    with pytest.raises(TargetError, match="unreachable"):
        target.pods("app=chat-api")
    assert not target.is_up()


def test_run_dry_run_on_kind_lists_exactly_the_pods_the_kill_would_hit(fake: FakeKubeApi, tmp_path: Path) -> None:
    """`resilience run --target kind --dry-run` prints what each fault would touch (pods, proxies, Deployment)."""
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    experiments = Path(__file__).resolve().parents[2] / "experiments"
    scenario = tmp_path / "kind.yaml"
    scenario.write_text(
        "name: kind-dry-run\n"
        f"targets:\n  kind: {{kubeconfig: {kubeconfig}, seed: 11}}\n"
        f"experiments:\n  - {{name: pod-kill, file: {experiments}/pod-kill.yaml, recovery_target_s: 15}}\n"
        f"  - {{name: db-failover, file: {experiments}/db-failover.yaml, recovery_target_s: 20}}\n"
        f"  - {{name: patroni-crash, file: {experiments}/patroni-crash.yaml, recovery_target_s: 60}}\n"
        f"  - {{name: db-latency, file: {experiments}/db-latency.yaml, recovery_target_s: 30}}\n"
        f"  - {{name: redis-outage, file: {experiments}/redis-outage.yaml, recovery_target_s: 20}}\n"
        f"  - {{name: bad-release-rollback, file: {experiments}/bad-release-rollback.yaml, recovery_target_s: 60}}\n"
    )
    expected = kube_target(fake, tmp_path, seed=11).plan_kill("app=chat-api", count=1)
    result = subprocess.run(
        [sys.executable, "-m", "resilience", "run", str(scenario), "--target", "kind", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"pod-kill/kill-one-chat-replica: would kill {expected[0].name} (SIGKILL; seed 11)" in result.stdout
    assert "db-failover/crash-db-primary: would delete primary pod resilience-pg-1 at once" in result.stdout
    assert (
        "NOT APPLICABLE on Kubernetes, the run skips this experiment (verdict not_applicable): CloudNativePG's HA agent"
        in result.stdout
    )
    proxy = "Toxiproxy proxy 'postgres' (http://127.0.0.1:30474; chat's path to postgres)"
    assert (
        "db-latency/add-200ms-db-latency: would add a latency toxic (jitter_ms=0, latency_ms=200; downstream) "
        f"to {proxy} for 10 s" in result.stdout
    )
    assert "redis-outage/redis-down-8s: would disable Toxiproxy proxy 'redis'" in result.stdout
    assert "would merge-patch deployment resilience-chat: release 'good' -> 'bad-errors'" in result.stdout
    touched = [line for line in result.stdout.splitlines() if line.startswith("  ") and "/" in line.split(":")[0]]
    assert len(touched) == 7  # every fault action of the method, none left out
    assert fake.writes() == []


KIND_DRY_RUN = ("--target", "kind", "--dry-run")


@pytest.mark.parametrize("rollouts", [False, True], ids=["deployment", "argo-rollout"])
def test_dry_run_of_the_nightly_says_what_every_deploy_would_patch(
    rollouts: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`resilience run scenarios/nightly.yaml --target kind --dry-run`: every deploy action names the workload
    it would patch (the Deployment, or the Argo Rollout when the chart runs one), the release change and the
    strategy, or is NOT APPLICABLE with its reason; no fault action is left at "cannot say"; nothing is written."""
    root = Path(__file__).resolve().parents[2]
    for fake in FakeKubeApi.serving_chart(rollouts=rollouts):
        monkeypatch.setenv("KUBECONFIG", str(fake.write_kubeconfig(tmp_path / "kubeconfig")))
        result = subprocess.run(
            [sys.executable, "-m", "resilience", "run", str(root / "scenarios" / "nightly.yaml"), *KIND_DRY_RUN],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
        assert "cannot say" not in result.stdout and "cannot plan" not in result.stdout
        lines = {
            line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
            for line in result.stdout.splitlines()
            if line.startswith("  ") and "/deploy-" in line.split(":")[0]
        }
        assert len(lines) == 5, lines
        workload = (
            "rollout resilience-chat (argoproj.io/v1alpha1, blue-green)" if rollouts else "deployment resilience-chat"
        )
        runs = (
            {"blue-green-deploy/deploy-good"}
            if rollouts
            else {
                "rolling-deploy/deploy-good",
                "bad-readiness-release/deploy-bad-readiness",
            }
        )
        for action, text in lines.items():
            if action in runs:
                assert text.startswith(f"would merge-patch {workload}: release 'good' -> "), text
            else:
                assert text.startswith("NOT APPLICABLE on Kubernetes"), text
        assert fake.writes() == []


def test_scale_patches_the_replica_count_and_waits(fake: FakeKubeApi, tmp_path: Path) -> None:
    """scale sends a version-guarded merge patch of spec.replicas, waits for the rollout, returns the old count."""
    target = kube_target(fake, tmp_path)
    read_rv = fake.deployments["resilience-chat"]["metadata"]["resourceVersion"]
    assert target.scale(5, timeout=10) == 3
    [patch] = _patches(fake)
    assert patch.body == {"metadata": {"resourceVersion": read_rv}, "spec": {"replicas": 5}}
    assert len(target.pods("app=chat-api")) == 5


def test_rollout_retries_when_the_deployment_changed_meanwhile(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A patch refused with 409 Conflict (the Deployment changed after the read) is rebuilt and resent once."""
    fake.bump_after_reads = 1
    target = kube_target(fake, tmp_path)
    target.rollout("bad-errors", timeout=10)
    first, second = _patches(fake)
    assert first.body["metadata"]["resourceVersion"] != second.body["metadata"]["resourceVersion"]
    assert target.release() == "bad-errors"


def test_rollout_gives_up_after_repeated_conflicts(fake: FakeKubeApi, tmp_path: Path) -> None:
    """When every patch meets a concurrent change, rollout fails after three attempts with one TargetError."""
    fake.bump_after_reads = 10
    with pytest.raises(TargetError, match="changed meanwhile"):
        kube_target(fake, tmp_path).rollout("bad-errors", timeout=10)
    assert len(_patches(fake)) == 3


def test_switchover_retries_when_the_cluster_changed_meanwhile(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A switchover patch refused with 409 (the operator wrote status in between) is rebuilt and resent."""
    fake.bump_after_reads = 1
    target = kube_target(fake, tmp_path)
    assert target.failover_db(FailoverMode.SWITCHOVER) == "resilience-pg-1"
    assert len(_patches(fake)) == 2 and target.db_primary() == "resilience-pg-2"


def test_db_is_unhealthy_until_the_rw_service_routes_to_the_new_primary(fake: FakeKubeApi, tmp_path: Path) -> None:
    """After a failover, wait_db_healthy also needs the -rw Service's EndpointSlice to point at the new primary."""
    target = kube_target(fake, tmp_path)
    target.failover_db(FailoverMode.PRIMARY_CRASH)
    fake.stale_rw_routing = "resilience-pg-1"
    with pytest.raises(TargetError, match=r"routes to \['resilience-pg-1'\], not resilience-pg-2"):
        target.wait_db_healthy(timeout=1)
    fake.stale_rw_routing = None
    target.wait_db_healthy(timeout=10)
    slices = [r for r in fake.requests if r.path.endswith("/endpointslices")]
    assert slices[-1].path == "/apis/discovery.k8s.io/v1/namespaces/resilience/endpointslices"
    assert slices[-1].query == {"labelSelector": ["kubernetes.io/service-name=resilience-pg-rw"]}


def test_kubeconfig_path_list_is_merged_like_kubectl(
    fake: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$KUBECONFIG with several files (one missing) is merged; the context is found in the second file."""
    other = tmp_path / "other"
    other.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    real = fake.write_kubeconfig(tmp_path / "kind")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{other}:{real}")
    target = get_target("kind", context="kind-resilience")
    assert isinstance(target, KubernetesTarget) and target.scope.server == fake.url


def test_missing_kubeconfig_is_one_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No kubeconfig file at all is a ConfigError naming the path and how to set it."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="not found \\(set KUBECONFIG or targets"):
        get_target("kind")


def test_unknown_context_is_one_config_error(fake: FakeKubeApi, tmp_path: Path) -> None:
    """A context the kubeconfig does not have is a ConfigError listing the contexts it has."""
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    with pytest.raises(ConfigError, match="no context 'kind-other' \\(have: kind-resilience\\)"):
        get_target("kind", kubeconfig=str(kubeconfig), context="kind-other")
