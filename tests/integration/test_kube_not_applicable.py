"""`resilience run` on kind reports an experiment the target cannot run as NOT APPLICABLE and runs nothing for it.

Against the fake API server (tests/support/fake_kube_api.py, a mock: no kube-apiserver runs here). The
scenario holds only patroni-crash, so no load is started (nothing applies) and the run is aborted (exit 2)
with that reason; with other experiments the run's verdict comes from them (tests/unit/test_not_applicable.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_kube_api import FakeKubeApi

pytestmark = pytest.mark.integration

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture
def fake() -> Iterator[FakeKubeApi]:
    yield from FakeKubeApi.serving_chart()


def test_patroni_crash_on_kind_is_reported_not_applicable_and_nothing_is_touched(
    fake: FakeKubeApi, tmp_path: Path
) -> None:
    """The progress line says NOT APPLICABLE with CloudNativePG's reason, run.json records verdict
    not_applicable, junit.xml a skipped case, and the fake saw no write (no pod deleted, nothing patched)."""
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    scenario = tmp_path / "kind.yaml"
    scenario.write_text(
        "name: kind-not-applicable\n"
        f"targets:\n  kind: {{kubeconfig: {kubeconfig}}}\n"
        f"experiments:\n  - {{name: patroni-crash, file: {EXPERIMENTS}/patroni-crash.yaml, recovery_target_s: 60}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "resilience", "run", str(scenario), "--target", "kind"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "patroni-crash: NOT APPLICABLE — crash-patroni-on-primary: CloudNativePG's HA agent" in out
    assert "starting load" not in out
    (run_dir,) = (tmp_path / "results").iterdir()
    run = json.loads((run_dir / "run.json").read_text())
    (experiment,) = run["experiments"]
    assert experiment["verdict"] == "not_applicable" and "CloudNativePG" in experiment["reasons"][0]
    assert run["verdict"] == "aborted" and run["errors"] == ["no experiment of the scenario applies to target kind"]
    assert "NOT APPLICABLE" in (run_dir / "junit.xml").read_text()
    assert fake.writes() == []
