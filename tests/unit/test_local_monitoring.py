"""The local stack's monitoring configuration: Prometheus -> rules -> Alertmanager -> the harness's receiver."""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import pytest
import yaml

from resilience.errors import TargetError
from resilience.targets.local import configs, monitoring
from resilience.targets.local.layout import DB_NODES, Layout, StackState
from tests.unit.test_local_configs import BINS, LAYOUT, SECRETS, _state

pytestmark = pytest.mark.unit


def _full_state(replicas: int = 2) -> StackState:
    state = _state(replicas)
    state.components = [*state.components, "alertmanager", "alert-receiver"]
    return state


def test_prometheus_scrapes_chat_and_patroni_every_second_and_notifies_alertmanager() -> None:
    """One target per chat replica and per Patroni REST port, 1 s scrapes and rules, the copied rules, AM."""
    state = _full_state()
    conf = yaml.safe_load(monitoring.prometheus_yml(state, LAYOUT))
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in conf["scrape_configs"] if "static_configs" in j}
    (chat,) = (j for j in conf["scrape_configs"] if j["job_name"] == "chat-api")
    assert chat["file_sd_configs"][0]["files"] == ["/srv/state/conf/chat-targets.json"]
    groups = json.loads(monitoring.chat_targets_json(state, state.chat_names()))
    assert [g["targets"] for g in groups] == [
        [f"127.0.0.1:{state.ports['chat-1']}"],
        [f"127.0.0.1:{state.ports['chat-2']}"],
    ]
    assert jobs["patroni"] == [f"127.0.0.1:{state.ports[n + '-api']}" for n in DB_NODES]
    assert (conf["global"]["scrape_interval"], conf["global"]["evaluation_interval"]) == ("1s", "1s")
    assert conf["rule_files"] == ["/srv/state/conf/rules/*.yml"]
    am = conf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am == [f"127.0.0.1:{state.ports['alertmanager']}"]


def test_alertmanager_sends_every_alert_at_once_to_the_receiver_with_resolved_notices() -> None:
    """Grouping by every label with no group wait: each alert is its own notification, resolved ones too."""
    state = _full_state()
    conf = yaml.safe_load(monitoring.alertmanager_yml(state))
    route = conf["route"]
    assert (route["group_by"], route["group_wait"], route["receiver"]) == (["..."], "0s", "harness")
    hook = conf["receivers"][0]["webhook_configs"][0]
    assert hook == {"url": f"http://127.0.0.1:{state.ports['alert-receiver']}/alerts", "send_resolved": True}


def test_supervisord_runs_alertmanager_without_gossip_and_the_receiver() -> None:
    """Both are supervised programs; Alertmanager's cluster listener is off (it would bind every interface)."""
    state = _full_state()
    parser = configparser.RawConfigParser()
    parser.read_string(configs.supervisord_conf(configs.programs(state, SECRETS, LAYOUT, BINS), LAYOUT, state.scope))
    am = parser["program:alertmanager"]["command"]
    assert "--cluster.listen-address=" in am.split()
    assert f"--web.listen-address=127.0.0.1:{state.ports['alertmanager']}" in am
    receiver = parser["program:alert-receiver"]["command"]
    assert "-m resilience.alerting" in receiver
    assert "/srv/state/data/alerts.jsonl" in receiver


def test_a_stack_recorded_before_alertmanager_existed_still_renders() -> None:
    """State without the new components (an older ``up``): no Alertmanager program, no alerting section."""
    state = _state()
    names = [p.name for p in configs.programs(state, SECRETS, LAYOUT, BINS)]
    assert "alertmanager" not in names and "prometheus" in names
    del state.ports["alertmanager"]
    assert "alerting" not in yaml.safe_load(monitoring.prometheus_yml(state, LAYOUT))


def test_write_monitoring_copies_the_repository_rules(tmp_path: Path) -> None:
    """conf/rules/ holds deploy/prometheus/*.yml; an empty rules folder is a one-line TargetError."""
    layout = Layout(tmp_path)
    layout.conf.mkdir(parents=True)
    monitoring.write_monitoring(layout, _full_state())
    assert (layout.conf / "rules" / "chat-alerts.yml").read_bytes() == (
        monitoring.RULES_DIR / "chat-alerts.yml"
    ).read_bytes()
    assert (layout.conf / "alertmanager.yml").is_file()
    with pytest.raises(TargetError, match="no alerting rules"):
        monitoring.write_monitoring(layout, _full_state(), rules_dir=tmp_path / "empty")


def test_chat_targets_carry_the_release_each_slot_runs() -> None:
    """A slot restarted on another release is a new series (a deploy's analysis selects by release, so the
    previous process's errors inside the rate window never count against the new one)."""
    state = _full_state()
    state.replica_releases = {"chat-1": "bad-errors", "chat-2": "good"}
    groups = json.loads(monitoring.chat_targets_json(state, state.chat_names()))
    assert [g["labels"]["release"] for g in groups] == ["bad-errors", "good"]
    state.replica_releases["chat-1"] = "good"
    groups = json.loads(monitoring.chat_targets_json(state, state.chat_names()))
    assert [g["labels"]["release"] for g in groups] == ["good", "good"]
