"""Alerts in a verdict: the receiver's notices, episodes, an experiment's alerts, missing/late/silent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from resilience.alerting.receiver import notices
from resilience.analysis.alerts import alert_problems, episodes, experiment_alerts, silent_failure
from resilience.errors import ConfigError
from resilience.runner.results import experiment_result
from resilience.scenario import load_scenario
from resilience.slo import Slo

pytestmark = pytest.mark.unit


def _n(t: float, name: str, status: str = "firing", fp: str = "") -> dict[str, Any]:
    return {"t": t, "name": name, "status": status, "fingerprint": fp or name}


def test_webhook_body_becomes_one_notice_per_alert_on_the_receipt_clock() -> None:
    """Alertmanager's v4 body: status, labels and RFC 3339 times become epoch seconds; zero time is null."""
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "ChatReplicaDown", "instance": "127.0.0.1:1"},
                "startsAt": "2026-12-04T13:00:00.5Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": "abc",
            },
            {"status": "resolved", "labels": {"alertname": "X"}, "endsAt": "2026-12-04T13:00:02Z"},
        ],
    }
    got = notices(body, received=1.5)
    assert got[0]["name"] == "ChatReplicaDown" and got[0]["t"] == 1.5 and got[0]["ends_at"] is None
    assert got[0]["starts_at"] == pytest.approx(1796389200.5)
    assert (got[1]["status"], got[1]["ends_at"]) == ("resolved", pytest.approx(1796389202.0))
    for bad in ({}, {"alerts": "x"}, {"alerts": [{"labels": {}}]}):
        with pytest.raises(ValueError, match="alert"):
            notices(bad, received=0)


def test_episodes_pair_firing_with_the_next_resolved_per_fingerprint() -> None:
    """Repeated firing notices do not open a second episode; an unresolved one stays open."""
    eps = episodes([_n(1, "A"), _n(2, "A"), _n(5, "A", "resolved"), _n(7, "A"), _n(3, "B", fp="b1")])
    assert [(e.name, e.fired, e.resolved) for e in eps] == [("A", 1, 5), ("B", 3, None), ("A", 7, None)]


def test_experiment_alerts_list_expected_first_with_times_from_the_fault() -> None:
    """Expected alerts come first (null when silent), then others active after the fault; earlier ones drop."""
    stream = [_n(50, "Old"), _n(60, "Old", "resolved"), _n(104, "ChatReplicaDown"), _n(106, "ChatWebSocketsDropped")]
    stream += [_n(112, "ChatReplicaDown", "resolved"), _n(95, "Before")]
    expected = [{"name": "ChatReplicaDown", "within_s": 30}, {"name": "Never", "within_s": 10}]
    alerts = experiment_alerts(stream, expected, fault_start=100, end=130)
    assert alerts == [
        {"name": "ChatReplicaDown", "expected": True, "within_s": 30.0, "fired_s": 4.0, "resolved_s": 12.0},
        {"name": "Never", "expected": True, "within_s": 10.0, "fired_s": None, "resolved_s": None},
        {"name": "Before", "expected": False, "within_s": None, "fired_s": -5.0, "resolved_s": None},
        {"name": "ChatWebSocketsDropped", "expected": False, "within_s": None, "fired_s": 6.0, "resolved_s": None},
    ]
    reasons = alert_problems(alerts, detect_s=2.0)
    assert reasons == ["expected alert Never did not fire (within 10 s)"]


def test_late_alert_and_silent_failure_are_reasons() -> None:
    """An alert after its deadline fails; a broken SLO with no alert at all is a silent failure."""
    late = [{"name": "A", "expected": True, "within_s": 5.0, "fired_s": 7.5, "resolved_s": None}]
    assert alert_problems(late, None) == ["expected alert A fired after 7.5 s, within 5 s"]
    leftover = [{"name": "A", "expected": True, "within_s": 5.0, "fired_s": -42.0, "resolved_s": None}]
    assert alert_problems(leftover, None) == [
        "expected alert A was already firing 42.0 s before the fault and did not fire again: "
        "no evidence it noticed this fault"
    ]


def test_an_expected_alert_prefers_the_episode_that_began_with_the_fault() -> None:
    """A leftover episode from the last fault, resolved after this one began, does not hide a new firing."""
    stream = [_n(50, "L", fp="a"), _n(103, "L", "resolved", fp="a"), _n(104, "L", fp="a")]
    alerts = experiment_alerts(stream, [{"name": "L", "within_s": 10}], fault_start=100, end=120)
    assert (alerts[0]["fired_s"], alerts[0]["resolved_s"]) == (4.0, None)
    silent = [{"name": "A", "expected": True, "within_s": 5.0, "fired_s": None, "resolved_s": None}]
    assert silent_failure(silent, 1.0) and not silent_failure(silent, None)
    assert alert_problems(silent, 1.0)[-1] == "silent failure: the SLO broke 1.0 s after the fault and no alert fired"


def _result(notices_: list[dict[str, Any]] | None, expect: list[dict[str, Any]]) -> dict[str, Any]:
    journal = {"status": "completed", "steady_states": {"before": {"steady_state_met": True}}, "run": []}
    return experiment_result(
        name="pod-kill",
        file="experiments/pod-kill.yaml",
        journal=journal,
        records={"faults": [{"event": "start", "t": 100.0}, {"event": "end", "t": 101.0}]},
        samples=[],
        resolution_s=1.0,
        slo=Slo(),
        slo_json=Slo().to_json(),
        stabilisation_s=1.0,
        recovery_target_s=30,
        started=95.0,
        ended=130.0,
        integrity=None,
        interrupted_by=None,
        notices=notices_,
        expect_alerts=expect,
    )


def test_verdict_fails_naming_the_missing_alert_and_passes_when_it_fired() -> None:
    """Alerting is part of the verdict only when the experiment expects alerts; no receiver then fails too."""
    expect = [{"name": "ChatReplicaDown", "within_s": 30}]
    fired = _result([_n(104, "ChatReplicaDown")], expect)
    assert fired["alerts"][0]["fired_s"] == 4.0
    assert not any("alert" in r for r in fired["reasons"])
    missing = _result([], expect)
    assert missing["verdict"] == "failed"
    assert "expected alert ChatReplicaDown did not fire (within 30 s)" in missing["reasons"]
    no_receiver = _result(None, expect)
    assert no_receiver["alerts"] is None
    assert any("no alert receiver" in r for r in no_receiver["reasons"])
    unjudged = _result([], [])
    assert unjudged["alerts"] == [] and not any("alert" in r for r in unjudged["reasons"])


def test_scenario_expect_alerts_are_validated_with_file_and_line(tmp_path: Path) -> None:
    """expect_alerts entries need a Prometheus alert name and a positive within_s."""
    (tmp_path / "e.yaml").write_text("title: t\n")
    good = "name: s\nexperiments:\n  - name: a\n    file: e.yaml\n    recovery_target_s: 5\n"
    ok = load_scenario(_write(tmp_path, good + "    expect_alerts: [{name: ChatReplicaDown, within_s: 30}]\n"))
    assert ok.scenario.experiments[0].expect_alerts[0].within_s == 30
    with pytest.raises(ConfigError, match=r"s\.yaml:6.*expect_alerts"):
        load_scenario(_write(tmp_path, good + "    expect_alerts: [{name: 'bad name', within_s: 0}]\n"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path
