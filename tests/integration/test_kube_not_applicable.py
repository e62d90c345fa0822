"""`resilience run` on kind reports an experiment the target cannot run as NOT APPLICABLE and runs nothing for it.

Against the fake API server (tests/support/fake_kube_api.py, a mock: no kube-apiserver runs here). The
scenario holds only patroni-crash, so no load is started (nothing applies) and the run is aborted (exit 2)
with that reason; with other experiments the run's verdict comes from them (tests/unit/test_not_applicable.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_kube_api import FakeKubeApi

pytestmark = pytest.mark.integration

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def _run_on_kind(fake: FakeKubeApi, tmp_path: Path, experiments: dict[str, int]) -> tuple[str, dict[str, Any], Path]:
    """``resilience run`` of a scenario holding ``experiments`` (name -> recovery target) on kind, expecting
    exit 2 (nothing applies): (the progress output on one line, run.json, the run folder)."""
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    listed = "".join(
        f"  - {{name: {name}, file: {EXPERIMENTS}/{name}.yaml, recovery_target_s: {target}}}\n"
        for name, target in experiments.items()
    )
    scenario = tmp_path / "kind.yaml"
    scenario.write_text(
        f"name: kind-not-applicable\ntargets:\n  kind: {{kubeconfig: {kubeconfig}}}\nexperiments:\n{listed}"
    )
    result = subprocess.run(
        [sys.executable, "-m", "resilience", "run", str(scenario), "--target", "kind"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    return " ".join(result.stdout.split()), json.loads((run_dir / "run.json").read_text()), run_dir


def test_patroni_crash_on_kind_is_reported_not_applicable_and_nothing_is_touched(
    fake: FakeKubeApi, tmp_path: Path
) -> None:
    """The progress line says NOT APPLICABLE with CloudNativePG's reason, run.json records verdict
    not_applicable, junit.xml a skipped case, and the fake saw no write (no pod deleted, nothing patched)."""
    out, run, run_dir = _run_on_kind(fake, tmp_path, {"patroni-crash": 60})
    assert "patroni-crash: NOT APPLICABLE — crash-patroni-on-primary: CloudNativePG's HA agent" in out
    assert "starting load" not in out
    (experiment,) = run["experiments"]
    assert experiment["verdict"] == "not_applicable" and "CloudNativePG" in experiment["reasons"][0]
    assert run["verdict"] == "aborted" and run["errors"] == ["no experiment of the scenario applies to target kind"]
    assert "NOT APPLICABLE" in (run_dir / "junit.xml").read_text()
    assert fake.writes() == []


def test_deploys_without_their_machinery_are_not_applicable_and_nothing_is_touched(
    fake: FakeKubeApi, tmp_path: Path
) -> None:
    """On the default chart (a Deployment, no Argo Rollouts) blue-green-deploy and bad-release-auto-rollback
    are reported NOT APPLICABLE with their reasons (no blue-green; a Deployment never rolls back by itself),
    no load starts, and the fake saw no write."""
    out, run, _run_dir = _run_on_kind(fake, tmp_path, {"blue-green-deploy": 30, "bad-release-auto-rollback": 30})
    assert "blue-green-deploy: NOT APPLICABLE — deploy-good: the chart runs the chat as a Deployment" in out
    assert "bad-release-auto-rollback: NOT APPLICABLE — deploy-bad-errors: a Deployment has no analysis" in out
    assert "starting load" not in out
    assert [e["verdict"] for e in run["experiments"]] == ["not_applicable", "not_applicable"]
    assert fake.writes() == []
