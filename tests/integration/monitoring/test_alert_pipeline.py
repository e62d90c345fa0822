"""Real Prometheus, Alertmanager and the harness's alert receiver, wired as the local stack wires them: an
alert that fires for a few seconds reaches the receiver as a firing and then a resolved notice, on time, and
the alert verdict built from those notices passes the alert that fired and names the one that could not.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resilience.analysis.alerts import alert_problems, experiment_alerts
from resilience.runner.alerting import fetch_notices, wait_for_alerts
from resilience.targets.local import monitoring
from resilience.targets.local.layout import DB_NODES, Layout, StackState
from tests.support.processes import http_ready, running
from tests.support.servers import free_port
from tests.support.wait import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# Bounds: Prometheus evaluates every 1 s and sends at once; Alertmanager's group_wait is 0 s and its
# group_interval 1 s (resolved notices wait for the next interval). 3 s on top for scheduling: `make test`
# runs 4 workers on 2 cores, and three processes (Prometheus, Alertmanager, receiver) each wait their turn
# (4.03 s was seen against a 2 s margin in such a run).
SCHEDULING_S = 3.0
FIRE_BOUND_S = 2.0 + SCHEDULING_S
RESOLVE_BOUND_S = 3.0 + SCHEDULING_S


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Prometheus (rules: one alert firing for 6 s from a moment 3 s after start), Alertmanager, receiver."""
    names = ["prometheus", "alertmanager", "alert-receiver", *(f"{n}-api" for n in DB_NODES)]
    state = StackState(replicas=0, ports={n: free_port() for n in names}, scope="rs-test")
    layout = Layout(tmp_path)
    for d in (layout.conf, layout.data, layout.logs):
        d.mkdir(parents=True, exist_ok=True)
    rules = tmp_path / "rules-src"
    rules.mkdir()
    start = time.time() + 3
    (rules / "test.yml").write_text(
        "groups:\n- name: t\n  interval: 1s\n  rules:\n"
        f"  - alert: BriefOutage\n    expr: vector(time()) > {start} and vector(time()) < {start + 6}\n"
        "    labels: {severity: page}\n"
    )
    monitoring.write_monitoring(layout, state, rules_dir=rules)
    p = state.ports
    prom = monitoring.prometheus_argv(shutil.which("prometheus") or "prometheus", state, layout)
    am = monitoring.alertmanager_argv(shutil.which("prometheus-alertmanager") or "alertmanager", state, layout)
    rcv = monitoring.receiver_argv(sys.executable, state, layout)
    with (
        running(list(rcv), layout.log("alert-receiver")),
        running(list(am), layout.log("alertmanager")),
        running(list(prom), layout.log("prometheus")),
    ):
        for url in (
            f"http://127.0.0.1:{p['alert-receiver']}/healthz",
            f"http://127.0.0.1:{p['alertmanager']}/-/ready",
            f"http://127.0.0.1:{p['prometheus']}/-/ready",
        ):
            wait_until(lambda u=url: http_ready(u), bool, timeout=30)
        yield {"receiver": f"http://127.0.0.1:{p['alert-receiver']}", "start": start, "layout": layout}


def test_alert_reaches_the_receiver_firing_then_resolved_on_time(pipeline: dict[str, Any]) -> None:
    """The notice of an alert that starts firing at T arrives by T + 4 s; its resolved notice by T + 6 + 5 s."""
    receiver, start = pipeline["receiver"], pipeline["start"]
    notices = wait_until(
        lambda: fetch_notices(receiver), lambda ns: any(n["status"] == "resolved" for n in ns), timeout=30
    )
    firing = next(n for n in notices if n["status"] == "firing")
    resolved = next(n for n in notices if n["status"] == "resolved")
    assert firing["name"] == "BriefOutage" and firing["labels"]["severity"] == "page"
    print(
        f"\nnotices: firing {firing['t'] - start:.2f} s after the condition, resolved {resolved['t'] - start - 6:.2f} s"
    )
    assert 0 <= firing["t"] - start <= FIRE_BOUND_S
    assert 0 <= resolved["t"] - (start + 6) <= RESOLVE_BOUND_S
    record = (pipeline["layout"].data / "alerts.jsonl").read_text().splitlines()
    assert len(record) == len(notices)  # every notice is on disk too


def test_alert_verdict_passes_the_alert_that_fired_and_names_the_one_that_cannot(pipeline: dict[str, Any]) -> None:
    """wait_for_alerts waits (bounded) for the expected alerts; the one no rule defines is reported missing."""
    receiver, start = pipeline["receiver"], pipeline["start"]
    expected = [{"name": "BriefOutage", "within_s": 10}, {"name": "NoSuchAlert", "within_s": 8}]
    t0 = time.time()
    notices = wait_for_alerts(receiver, expected, fault_start=start)
    waited = time.time() - t0
    # the longest deadline (10 s) plus the grace (1 s), and not longer (2 s for a busy box)
    assert start + 11 - 0.5 <= time.time() <= start + 11 + 2, waited
    alerts = experiment_alerts(notices, expected, fault_start=start, end=time.time())
    assert alerts[0]["fired_s"] is not None and 0 <= alerts[0]["fired_s"] <= FIRE_BOUND_S
    assert alert_problems(alerts, detect_s=None) == ["expected alert NoSuchAlert did not fire (within 8 s)"]
