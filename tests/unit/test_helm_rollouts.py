"""Zero-downtime chat deploys in the chart: graceful shutdown of a pod, and the Argo Rollouts option.

Offline (no API server or Argo Rollouts controller here): the Helm SDK renders the chart, core objects pass
kubernetes-validate --strict (1.31), the Rollout, AnalysisTemplate and PodMonitor pass the Argo Rollouts
v1.9.1 and Prometheus Operator v0.93.0 CRD schemas with unknown fields rejected (tests/support/chart.py),
and helm lint --strict stays clean. The analysis queries themselves are evaluated by promtool in
tests/integration/monitoring/test_rollout_analysis.py.
"""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from tests.support.chart import CHART, RELEASE, crd_errors, render, values

pytestmark = pytest.mark.unit

ON = {"enabled": True}
SHUTDOWN_ENV = {"CHAT_SHUTDOWN_DELAY_S", "CHAT_DRAIN_TIMEOUT_S"}


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    return container


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_grace_period_covers_the_pre_stop_sleep_the_delay_and_the_drain(env: str) -> None:
    """terminationGracePeriodSeconds = preStop sleep + CHAT_SHUTDOWN_DELAY_S + CHAT_DRAIN_TIMEOUT_S + margin."""
    deployment = _by_kind(render(values(env)), "Deployment")[f"{RELEASE}-chat"]
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    env_vars = {e["name"]: e.get("value") for e in container["env"]}
    sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    delay, drain = float(env_vars["CHAT_SHUTDOWN_DELAY_S"]), float(env_vars["CHAT_DRAIN_TIMEOUT_S"])
    assert sleep >= 1 and delay >= 0 and drain >= 1
    assert pod["terminationGracePeriodSeconds"] >= sleep + delay + drain + 1
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_grace_period_follows_the_shutdown_values() -> None:
    """A longer drain lengthens the grace period by as much: the two cannot drift apart."""
    base = values("kind")
    longer = copy.deepcopy(base)
    longer["chat"]["shutdown"] = {**base["chat"].get("shutdown", {}), "drainTimeoutSeconds": 25}
    default = _by_kind(render(base), "Deployment")[f"{RELEASE}-chat"]["spec"]["template"]["spec"]
    changed = _by_kind(render(longer), "Deployment")[f"{RELEASE}-chat"]["spec"]["template"]["spec"]
    assert changed["terminationGracePeriodSeconds"] == default["terminationGracePeriodSeconds"] + 15
    assert {"name": "CHAT_DRAIN_TIMEOUT_S", "value": "25"} in changed["containers"][0]["env"]


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_rollouts_option_replaces_the_deployment_by_a_blue_green_rollout(env: str) -> None:
    """argoRollouts.enabled: no Deployment; a blueGreen Rollout with the same pod template, active = the chat
    Service, a preview Service, post-promotion analysis on the new pods' hash; the HPA scales the Rollout."""
    plain = render(values(env))
    docs = render(values(env, argoRollouts=ON))
    assert f"{RELEASE}-chat" not in _by_kind(docs, "Deployment")
    rollout = _by_kind(docs, "Rollout")[f"{RELEASE}-chat"]
    deployment = _by_kind(plain, "Deployment")[f"{RELEASE}-chat"]
    assert rollout["spec"]["template"] == deployment["spec"]["template"]
    assert rollout["spec"]["selector"] == deployment["spec"]["selector"]
    blue_green = rollout["spec"]["strategy"]["blueGreen"]
    services = _by_kind(docs, "Service")
    assert services[blue_green["activeService"]] == _by_kind(plain, "Service")[f"{RELEASE}-chat"]
    assert services[blue_green["previewService"]]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert blue_green["maxUnavailable"] == 0 and rollout["spec"]["progressDeadlineAbort"] is True
    analysis = blue_green["postPromotionAnalysis"]
    assert analysis["templates"] == [{"templateName": f"{RELEASE}-chat-analysis"}]
    assert analysis["args"] == [{"name": "new-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]
    assert f"{RELEASE}-chat-analysis" in _by_kind(docs, "AnalysisTemplate")
    hpas = _by_kind(docs, "HorizontalPodAutoscaler")
    if env == "staging":
        target = hpas[f"{RELEASE}-chat"]["spec"]["scaleTargetRef"]
        assert target == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": f"{RELEASE}-chat"}
        assert "replicas" not in rollout["spec"]
    else:
        assert hpas == {} and rollout["spec"]["replicas"] == 3


def test_analysis_template_follows_argo_semantics_and_the_values() -> None:
    """Both metrics (error-rate, p95) carry interval/count/failureLimit/consecutiveErrorLimit and a
    successCondition with the configured limits; each query selects the new pods' hash only."""
    analysis = {
        "interval": "10s",
        "count": 6,
        "failureLimit": 1,
        "consecutiveErrorLimit": 3,
        "maxErrorRate": 0.02,
        "maxP95Seconds": 0.25,
        "window": "20s",
    }
    docs = render(values("kind", argoRollouts={"enabled": True, "analysis": analysis}))
    template = _by_kind(docs, "AnalysisTemplate")[f"{RELEASE}-chat-analysis"]
    assert template["spec"]["args"] == [{"name": "new-hash"}]
    metrics = {m["name"]: m for m in template["spec"]["metrics"]}
    assert set(metrics) == {"error-rate", "p95"}
    for metric in metrics.values():
        assert (metric["interval"], metric["count"], metric["failureLimit"], metric["consecutiveErrorLimit"]) == (
            "10s",
            6,
            1,
            3,
        )
        query = metric["provider"]["prometheus"]["query"]
        assert query.count('rollouts_pod_template_hash="{{args.new-hash}}"') == query.count("rate(")
        assert "[20s]" in query and f'namespace="{RELEASE}"' in query
    assert metrics["error-rate"]["successCondition"] == "isNaN(result[0]) || result[0] <= 0.02"
    assert metrics["p95"]["successCondition"] == "isNaN(result[0]) || result[0] <= 0.25"


@pytest.mark.parametrize("env", ["kind", "staging"])
def test_rollout_objects_fit_the_argo_rollouts_and_prometheus_operator_crds(env: str) -> None:
    """Rollout, AnalysisTemplate and PodMonitor validate strictly against their CRD schemas; every other
    object (the preview Service included) passes kubernetes-validate --strict."""
    docs = render(values(env, argoRollouts=ON))
    custom = [d for d in docs if d["kind"] in {"Rollout", "AnalysisTemplate", "PodMonitor"}]
    assert sorted(d["kind"] for d in custom) == ["AnalysisTemplate", "PodMonitor", "Rollout"]
    assert {d["kind"]: crd_errors(d) for d in custom} == {d["kind"]: [] for d in custom}
    for doc in docs:
        if doc["apiVersion"].split("/")[0] not in {"argoproj.io", "monitoring.coreos.com", "postgresql.cnpg.io"}:
            kubernetes_validate.validate(copy.deepcopy(doc), "1.31", strict=True)


def test_the_crd_checks_are_not_vacuous() -> None:
    """A misspelt blueGreen field, a metric without provider and an unknown PodMonitor field are reported."""
    docs = render(values("kind", argoRollouts=ON))
    rollout = copy.deepcopy(_by_kind(docs, "Rollout")[f"{RELEASE}-chat"])
    rollout["spec"]["strategy"]["blueGreen"]["scaleDownDelay"] = 30
    template = copy.deepcopy(_by_kind(docs, "AnalysisTemplate")[f"{RELEASE}-chat-analysis"])
    del template["spec"]["metrics"][0]["provider"]
    monitor = copy.deepcopy(_by_kind(docs, "PodMonitor")[f"{RELEASE}-chat"])
    monitor["spec"]["podMetricsEndpoints"][0]["intervall"] = "1s"
    assert any("scaleDownDelay" in e for e in crd_errors(rollout))
    assert any("provider" in e for e in crd_errors(template))
    assert any("intervall" in e for e in crd_errors(monitor))


def test_pod_monitor_can_be_left_out_and_carries_its_labels() -> None:
    """podMonitor.enabled false renders none; its labels reach the object when on."""
    off = render(values("kind", argoRollouts={"enabled": True, "podMonitor": {"enabled": False}}))
    assert _by_kind(off, "PodMonitor") == {}
    on = render(values("kind", argoRollouts={"enabled": True, "podMonitor": {"labels": {"release": "kp"}}}))
    monitor = _by_kind(on, "PodMonitor")[f"{RELEASE}-chat"]
    assert monitor["metadata"]["labels"]["release"] == "kp"
    assert monitor["spec"]["podTargetLabels"] == ["rollouts-pod-template-hash"]


def test_chart_lints_strictly_with_rollouts_on() -> None:
    """helm lint --strict reports nothing with argoRollouts.enabled on the staging values."""
    report = helm.lint(
        CHART, values("staging", argoRollouts=ON), strict=True, namespace="resilience", kube_version="v1.31.0"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == []


def test_a_bad_rollouts_value_is_refused_with_its_path() -> None:
    """values.schema.json rejects a misspelt analysis key and a non-duration interval, naming the path."""
    for bad, where in (
        ({"enabled": True, "analysis": {"failurelimit": 2}}, "failurelimit"),
        ({"enabled": True, "analysis": {"interval": "5 seconds"}}, "interval"),
    ):
        with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError, match=where):
            chart.render(values=values("kind", argoRollouts=bad), name=RELEASE, namespace="resilience")
