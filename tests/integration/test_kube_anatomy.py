"""The failover anatomy on Kubernetes, offline: the readers of CloudNativePG's status, the -rw
EndpointSlices and the chat pods against the project's fake API server (a mock of the Kubernetes API: no
API server offline), watched across a primary-pod deletion."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from resilience.analysis.anatomy import anatomy
from resilience.runner.watch import Watcher
from resilience.targets.base import FailoverMode
from resilience.targets.kubernetes import KubernetesTarget
from tests.support.fake_kube_api import FakeKubeApi, kube_target

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_cnpg_failover_phases_from_status_and_endpoint_slices(fake: FakeKubeApi, tmp_path: Path) -> None:
    """currentPrimary (dcs.leader), instance pods (db.*), the -rw EndpointSlice (lb.*) and chat pods
    (ready.*) are read; a primary-pod deletion gives leader lost, leader elected and routed, in order."""
    target = kube_target(fake, tmp_path)
    assert isinstance(target, KubernetesTarget)
    readings = {k: v for reader in target.observers().values() for k, v in reader().items()}
    assert readings["dcs.leader"] == "resilience-pg-1"
    assert readings["db.resilience-pg-1"] == "primary/running"
    assert readings["lb.resilience-pg-rw.postgres-rw/resilience-pg-1"] == "UP"
    assert any(k.startswith("ready.") and v is True for k, v in readings.items())
    path = tmp_path / "observations.jsonl"
    with Watcher(target.observers(), path, interval_s=0.02):
        time.sleep(0.3)
        t0 = time.time()
        target.failover_db(FailoverMode.PRIMARY_CRASH)
        target.wait_db_healthy(timeout=10)
        time.sleep(0.3)
    obs = [json.loads(line) for line in path.read_text().splitlines()]
    kind, phases = anatomy("db-failover:primary-crash", obs, [], t0)
    chain = [p for p in phases if p["name"] != "old leader rejoined"]  # the fake recreates the pod at once
    assert kind == "db"
    assert [p["name"] for p in chain] == ["fault", "leader lost", "leader key released", "leader elected", "routed"]
    at = [p["at_s"] for p in chain]
    assert at == sorted(at) and at[-1] < 5.0
    assert {o["value"] for o in obs if o["key"] == "dcs.leader"} == {"resilience-pg-1", "resilience-pg-2"}
