"""The chart's PrometheusRule (prometheusRule.enabled): the same rules as deploy/prometheus/chat-alerts.yml,
checked offline against the fields and constraints the Prometheus Operator's PrometheusRule CRD (v1) puts
on them (a schema written here from the CRD: no API server or CRD file is available offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "chart"
RULES = ROOT / "deploy" / "prometheus" / "chat-alerts.yml"

_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expr"],
    "properties": {
        "alert": {"type": "string"},
        "record": {"type": "string"},
        "expr": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "for": _DURATION,
        "keep_firing_for": _DURATION,
        "labels": _STRINGS,
        "annotations": _STRINGS,
    },
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
}
SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "limit": {"type": "integer"},
                            "rules": {"type": "array", "items": _RULE},
                        },
                    },
                }
            },
        },
    },
}


def _render(values: dict[str, Any]) -> list[dict[str, Any]]:
    base = yaml.safe_load((ROOT / "deploy" / "values" / "kind.yaml").read_text())
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values={**base, **values}, name="resilience", namespace="resilience")
    docs = [d for name, text in files.items() if name.endswith(".yaml") for d in yaml.safe_load_all(text) if d]
    return [d for d in docs if d["kind"] == "PrometheusRule"]


def test_prometheus_rule_carries_the_repository_rules_and_fits_the_crd() -> None:
    """Enabled: one PrometheusRule whose groups are chat-alerts.yml's, valid for the CRD, with the extra labels."""
    (rule,) = _render({"prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus"}}})
    jsonschema.validate(rule, SCHEMA)
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    assert rule["metadata"]["name"] == "resilience-chat-alerts"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus"


def test_prometheus_rule_is_off_by_default_and_a_bad_rule_is_caught() -> None:
    """Without the option nothing renders (the CRD may be absent); the schema rejects a rule without expr."""
    assert _render({}) == []
    bad = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {},
           "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "for": "5 s"}]}]}}  # fmt: skip
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_chart_lints_with_the_rule_enabled() -> None:
    """helm lint --strict stays clean with prometheusRule.enabled."""
    values = {
        **yaml.safe_load((ROOT / "deploy" / "values" / "kind.yaml").read_text()),
        "prometheusRule": {"enabled": True},
    }
    report = helm.lint(CHART, values, strict=True, namespace="resilience", kube_version="v1.31.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == []
