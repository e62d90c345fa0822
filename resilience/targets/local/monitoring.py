"""Monitoring of the local stack (pure: text in, text out; ``write_monitoring`` writes the files).

    chat replicas, Patroni REST ──scrape 1 s──► Prometheus ──rules (deploy/prometheus/*.yml), 1 s──►
        Alertmanager ──webhook, every firing and resolved notice──► alert receiver (resilience.alerting)

Prometheus evaluates the repository's alerting rules every second (their windows are scaled for game days
and need 1 s scrapes); Alertmanager groups by every label so that each alert is notified at once, and
resends resolved notices; the receiver records each notice on the run clock for the runner to read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from resilience.errors import TargetError
from resilience.files import write_atomic
from resilience.targets.local.layout import DB_NODES, Layout, StackState

__all__ = [
    "COMPONENTS",
    "RULES_DIR",
    "alertmanager_argv",
    "alertmanager_yml",
    "argvs",
    "chat_targets_json",
    "prometheus_argv",
    "prometheus_yml",
    "receiver_argv",
    "write_chat_targets",
    "write_monitoring",
]

COMPONENTS = ("prometheus", "alertmanager", "alert-receiver")
"""The monitoring components, in start order (all three start with the stack's base)."""

RULES_DIR = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
"""The alerting rules shipped with the repository (``deploy/prometheus/*.yml``)."""


def prometheus_yml(state: StackState, layout: Layout) -> str:
    """Prometheus: every chat replica, every Patroni REST port and itself each second; the rules; Alertmanager.

    The chat replicas are discovered from a file (``chat_targets_json``) that a deploy rewrites as it moves
    replicas between slots, the local stand-in for Kubernetes service discovery: a slot that is not running
    is not a target, so it does not read as a replica down."""
    p = state.ports
    conf: dict[str, object] = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(layout.conf / "rules" / "*.yml")],
        "scrape_configs": [
            {
                "job_name": "chat-api",
                "file_sd_configs": [{"files": [str(layout.conf / "chat-targets.json")], "refresh_interval": "5s"}],
            },
            {"job_name": "patroni", "static_configs": [{"targets": [f"127.0.0.1:{p[n + '-api']}" for n in DB_NODES]}]},
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{p['prometheus']}"]}]},
        ],
    }
    if "alertmanager" in p:
        conf["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{p['alertmanager']}"]}]}]}
    return yaml.safe_dump(conf, sort_keys=False)


def chat_targets_json(state: StackState, names: list[str]) -> str:
    """Prometheus' file service discovery of the chat replicas ``names``, each labelled with the release its
    slot runs: a slot restarted on another release starts new series, so a deploy's analysis selecting by
    release never counts the previous process's requests still inside its rate window."""
    groups = [
        {
            "targets": [f"127.0.0.1:{state.ports[n]}"],
            "labels": {"release": state.replica_releases.get(n, state.release)},
        }
        for n in names
    ]
    return json.dumps(groups, indent=2)


def write_chat_targets(layout: Layout, state: StackState, names: list[str]) -> None:
    """Replace the chat targets file atomically (Prometheus watches it)."""
    write_atomic(layout.conf / "chat-targets.json", chat_targets_json(state, names))


def alertmanager_yml(state: StackState) -> str:
    """Alertmanager: one route to the harness's webhook receiver, each alert its own group, no waiting."""
    conf = {
        "route": {
            "receiver": "harness",
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "harness",
                "webhook_configs": [
                    {"url": f"http://127.0.0.1:{state.ports['alert-receiver']}/alerts", "send_resolved": True}
                ],
            }
        ],
    }
    return yaml.safe_dump(conf, sort_keys=False)


def prometheus_argv(binary: str, state: StackState, layout: Layout) -> tuple[str, ...]:
    return (
        binary,
        f"--config.file={layout.conf / 'prometheus.yml'}",
        f"--storage.tsdb.path={layout.data / 'prometheus'}",
        f"--web.listen-address=127.0.0.1:{state.ports['prometheus']}",
        "--rules.alert.resend-delay=1s",
        "--log.level=warn",
    )


def alertmanager_argv(binary: str, state: StackState, layout: Layout) -> tuple[str, ...]:
    return (
        binary,
        f"--config.file={layout.conf / 'alertmanager.yml'}",
        f"--storage.path={layout.data / 'alertmanager'}",
        f"--web.listen-address=127.0.0.1:{state.ports['alertmanager']}",
        "--cluster.listen-address=",  # no gossip: it would listen on every interface
        "--log.level=warn",
    )


def receiver_argv(python: str, state: StackState, layout: Layout) -> tuple[str, ...]:
    return (
        python,
        "-m",
        "resilience.alerting",
        "--port",
        str(state.ports["alert-receiver"]),
        "--record",
        str(layout.data / "alerts.jsonl"),
    )


def argvs(
    state: StackState, layout: Layout, *, prometheus: str, alertmanager: str, python: str
) -> list[tuple[str, tuple[str, ...]]]:
    """(name, argv) of each monitoring component the stack runs (``state.components``), in start order."""
    makers = {
        "prometheus": lambda: prometheus_argv(prometheus, state, layout),
        "alertmanager": lambda: alertmanager_argv(alertmanager, state, layout),
        "alert-receiver": lambda: receiver_argv(python, state, layout),
    }
    return [(name, makers[name]()) for name in COMPONENTS if name in state.components]


def write_monitoring(layout: Layout, state: StackState, rules_dir: Path = RULES_DIR) -> None:
    """prometheus.yml, alertmanager.yml and a copy of the alerting rules in the state dir's conf/."""
    rules = sorted(rules_dir.glob("*.yml"))
    if not rules:
        raise TargetError(f"no alerting rules in {rules_dir}: the stack runs from a checkout of the repository")
    target = layout.conf / "rules"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    for path in rules:
        shutil.copyfile(path, target / path.name)
    (layout.conf / "prometheus.yml").write_text(prometheus_yml(state, layout))
    write_chat_targets(layout, state, state.chat_names())
    if "alertmanager" in state.ports:
        (layout.conf / "alertmanager.yml").write_text(alertmanager_yml(state))
