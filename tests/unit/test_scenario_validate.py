"""``resilience validate``: every shipped experiment passes chaoslib's and our checks; errors carry file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.cli import main
from resilience.errors import ConfigError
from resilience.runner.experiments import validate_experiment

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
POD_KILL = (ROOT / "experiments" / "pod-kill.yaml").read_text(encoding="utf-8")


def test_the_eight_experiments_exist() -> None:
    """The issue's eight fault stories are shipped."""
    names = {p.stem for p in EXPERIMENTS}
    assert {
        "pod-kill",
        "db-latency",
        "db-failover",
        "db-switchover",
        "patroni-crash",
        "redis-outage",
        "network-partition",
        "bad-release-rollback",
    } <= names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_is_valid(path: Path) -> None:
    """Each experiment has a hypothesis, a method and rollbacks, and validates."""
    experiment = validate_experiment(path)
    assert experiment["steady-state-hypothesis"]["probes"]
    assert experiment["method"]
    assert experiment["rollbacks"]


@pytest.mark.parametrize(
    ("old", "new", "pattern"),
    [
        ("func: kill_pods", "func: kill_podz", r":36: method\.0\.provider: .*kill_podz"),
        ("count: 1, signal", "countt: 1, signal", r":36: method\.0\.provider: argument 'countt'"),
        ("tolerance: true", "tolerance: 1.5", r":23: steady-state-hypothesis\.probes\.0\.tolerance"),
        ("module: resilience.controls.load", "module: resilience.controls.lod", r":13: controls\.0\.provider\.module"),
        ("func: revert_all_faults", "func: _MODULES", r"rollbacks\.0\.provider"),
    ],
)
def test_bad_experiment_names_line_and_field(tmp_path: Path, old: str, new: str, pattern: str) -> None:
    """A wrong function, argument, tolerance or control module is reported at its line and field."""
    assert old in POD_KILL
    path = tmp_path / "bad.yaml"
    path.write_text(POD_KILL.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=pattern):
        validate_experiment(path)


def test_cli_validate_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Valid files exit 0; one invalid file among them exits 3 with one error line naming it."""
    scenarios = sorted((ROOT / "scenarios").glob("*.yaml"))
    assert main(["validate", *map(str, scenarios), *map(str, EXPERIMENTS)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: t\n", encoding="utf-8")
    assert main(["validate", str(EXPERIMENTS[0]), str(bad)]) == 3
    err = capsys.readouterr().err
    assert f"{bad}:1: description: required field is missing" in err
    assert "Traceback" not in err
