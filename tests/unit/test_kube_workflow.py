"""The nightly kind workflow and the kind scripts: structure and references (no runner or Docker here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "resilience-nightly.yml"


def _workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def _runs() -> str:
    steps = _workflow()["jobs"]["nightly"]["steps"]
    return "\n".join(str(s.get("run", "")) for s in steps)


def test_nightly_runs_on_a_schedule_and_on_demand() -> None:
    """The workflow has a cron schedule and a manual trigger (YAML's `on` key parses as True)."""
    triggers = _workflow()[True]
    assert triggers["schedule"][0]["cron"] and "workflow_dispatch" in triggers


def test_nightly_creates_kind_installs_chart_and_runs_the_scenario_on_kind() -> None:
    """Steps: make kind-up, resilience run <nightly scenario> --target kind, make kind-down."""
    runs = _runs()
    assert "make kind-up" in runs and "make kind-down" in runs
    assert re.search(r'resilience run "\$SCENARIO" --target kind --results-dir results', runs)
    assert "scenarios/kind.yaml" in _workflow()["env"]["SCENARIO"]
    assert (ROOT / "scenarios" / "kind.yaml").is_file()


def test_nightly_uploads_results_and_publishes_summary_and_junit() -> None:
    """results/ is uploaded, summary.md goes to the step summary and junit.xml to a check, all even on failure."""
    steps = _workflow()["jobs"]["nightly"]["steps"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    junit = next(s for s in steps if str(s.get("uses", "")).startswith("mikepenz/action-junit-report@"))
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in str(s.get("run", "")))
    assert upload["with"]["path"] == "results/" and upload["if"] == "always()"
    assert junit["with"]["report_paths"] == "results/*/junit.xml" and junit["if"] == "always()"
    assert "summary.md" in summary["run"] and summary["if"] == "always()"


def test_every_action_is_pinned_to_a_version() -> None:
    """Each `uses:` names an action at an explicit version tag."""
    steps = _workflow()["jobs"]["nightly"]["steps"]
    uses = [str(s["uses"]) for s in steps if "uses" in s]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*", u) for u in uses)


def test_kind_up_uses_the_kind_config_and_the_chart_values() -> None:
    """up.sh creates the cluster from deploy/kind/cluster.yaml and installs deploy/chart with the kind values."""
    up = (ROOT / "deploy" / "kind" / "up.sh").read_text()
    assert "--config deploy/kind/cluster.yaml" in up
    assert "helm upgrade --install" in up and "-f deploy/values/kind.yaml" in up
    assert "docker build -f deploy/chat.Dockerfile" in up and "kind load docker-image" in up


def test_chat_image_copies_only_what_its_dockerignore_lets_through() -> None:
    """Every path the Dockerfile COPYs is allowed by deploy/chat.Dockerfile.dockerignore, which excludes the rest."""
    dockerfile = (ROOT / "deploy" / "chat.Dockerfile").read_text()
    ignore = (ROOT / "deploy" / "chat.Dockerfile.dockerignore").read_text().split()
    copied = {
        part.rstrip("/") for line in dockerfile.splitlines() if line.startswith("COPY ") for part in line.split()[1:-1]
    }
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore and copied == allowed
    assert all((ROOT / path).exists() for path in copied)
