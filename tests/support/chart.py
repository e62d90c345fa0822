"""The Helm chart offline: render it with the Helm SDK, check custom resources against vendored CRD schemas.

The schemas in tests/data are each CRD's ``openAPIV3Schema`` (its one served version) as published by the
project, stored as gzipped JSON: CloudNativePG 1.30.0 (Cluster v1), Argo Rollouts v1.9.1 (commit
b6bd3bcf8f60d717a98763d26acc983db7f97cb0, manifests/crds/rollout-crd.yaml and analysis-template-crd.yaml,
v1alpha1), Prometheus Operator v0.93.0 (commit f8fafd475f3d132e239432ae6172de60a6cb6516,
example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml, v1).
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "chart"
DATA = ROOT / "tests" / "data"
VALUES = {"kind": ROOT / "deploy" / "values" / "kind.yaml", "staging": ROOT / "deploy" / "values" / "staging.yaml"}
RELEASE = "resilience"
NAMESPACE = "resilience"

CRD_SCHEMAS = {
    "Cluster": "cnpg-1.30.0-cluster-v1.schema.json.gz",
    "Rollout": "argo-rollouts-1.9.1-rollout-v1alpha1.schema.json.gz",
    "AnalysisTemplate": "argo-rollouts-1.9.1-analysistemplate-v1alpha1.schema.json.gz",
    "PodMonitor": "prometheus-operator-0.93.0-podmonitor-v1.schema.json.gz",
}


def values(env: str, **overrides: Any) -> dict[str, Any]:
    """The values file of ``env`` (kind, staging) with top-level keys replaced by ``overrides``."""
    loaded: dict[str, Any] = yaml.safe_load(VALUES[env].read_text())
    return {**loaded, **overrides}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object the chart renders with ``values`` (release and namespace ``resilience``)."""
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
    docs: list[dict[str, Any]] = []
    for name, text in sorted(files.items()):
        if name.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def strict(schema: Any) -> Any:
    """Reject unknown fields wherever the CRD schema lists properties and does not preserve unknowns."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@cache
def crd_validator(kind: str) -> jsonschema.Draft7Validator:
    """A strict validator for ``kind`` from its vendored CRD schema (metadata is the API server's business)."""
    with gzip.open(DATA / CRD_SCHEMAS[kind], "rt") as f:
        schema = strict(json.load(f))
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def crd_errors(obj: dict[str, Any]) -> list[str]:
    """Where ``obj`` breaks its kind's CRD schema (path: message), empty when it fits."""
    errors = crd_validator(obj["kind"]).iter_errors(obj)
    return [f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors]
