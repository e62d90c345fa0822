"""Scenario and SLO models: the shipped scenarios load, and every bad input names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.errors import ConfigError
from resilience.scenario import load_scenario, load_yaml
from resilience.slo import Slo

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments" / "pod-kill.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["smoke", "nightly", "gameday"])
def test_shipped_scenarios_load(name: str) -> None:
    """smoke, nightly and gameday are valid and name a recovery target for every experiment."""
    loaded = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    assert loaded.scenario.experiments
    assert all(p.recovery_target_s > 0 for p in loaded.scenario.experiments)
    assert all(loaded.experiment_path(p).is_file() for p in loaded.scenario.experiments)


def test_smoke_has_three_experiments_and_nightly_all_thirteen() -> None:
    """The smoke scenario is three fast experiments; nightly runs all thirteen (eight faults, five deploys)."""
    assert len(load_scenario(ROOT / "scenarios" / "smoke.yaml").scenario.experiments) == 3
    assert len(load_scenario(ROOT / "scenarios" / "nightly.yaml").scenario.experiments) == 13


def test_bad_value_names_file_line_and_field(tmp_path: Path) -> None:
    """A negative recovery target is reported at its own line with its dotted field path."""
    path = _write(
        tmp_path,
        f"name: x\nexperiments:\n  - name: a\n    file: {EXPERIMENT}\n    recovery_target_s: -1\n",
    )
    with pytest.raises(ConfigError, match=r"s\.yaml:5: experiments\.0\.recovery_target_s: .*greater than 0"):
        load_scenario(path)


def test_unknown_field_is_rejected_at_its_line(tmp_path: Path) -> None:
    """A misspelt key is an error naming the key's line, not silently ignored."""
    path = _write(
        tmp_path,
        "name: x\nload:\n  users: 3\n  userz: 4\n"
        f"experiments:\n  - {{name: a, file: {EXPERIMENT}, recovery_target_s: 1}}\n",
    )
    with pytest.raises(ConfigError, match=r"s\.yaml:4: load\.userz: unknown field"):
        load_scenario(path)


def test_missing_experiment_file_is_reported(tmp_path: Path) -> None:
    """An experiment file that does not exist is reported at the ``file`` line."""
    path = _write(tmp_path, "name: x\nexperiments:\n  - name: a\n    file: nope.yaml\n    recovery_target_s: 1\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:4: experiments\.0\.file: no such experiment file 'nope.yaml'"):
        load_scenario(path)


def test_duplicate_experiment_names_are_rejected(tmp_path: Path) -> None:
    """Two experiments of the same name would overwrite each other's results folder."""
    item = f"  - {{name: a, file: {EXPERIMENT}, recovery_target_s: 1}}\n"
    path = _write(tmp_path, "name: x\nexperiments:\n" + item + item)
    with pytest.raises(ConfigError, match="used twice"):
        load_scenario(path)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    """Malformed YAML is one error line with the line number, no traceback text."""
    path = _write(tmp_path, "name: x\nexperiments: [\n")
    with pytest.raises(ConfigError, match=r"s\.yaml:3: invalid YAML"):
        load_yaml(path)


def test_missing_required_field(tmp_path: Path) -> None:
    """A scenario without experiments says the field is missing."""
    path = _write(tmp_path, "name: x\n")
    with pytest.raises(ConfigError, match="experiments: required field is missing"):
        load_scenario(path)


def test_per_experiment_slo_override_merges() -> None:
    """An experiment's SLO override replaces only the keys it names."""
    merged = Slo().merged({"p95_ms": 500})
    assert merged.p95_ms == 500
    assert merged.error_rate == Slo().error_rate


def test_bad_slo_override_is_rejected(tmp_path: Path) -> None:
    """An unknown SLO key in an experiment override is a ConfigError at that experiment."""
    path = _write(
        tmp_path,
        f"name: x\nexperiments:\n  - name: a\n    file: {EXPERIMENT}\n"
        "    recovery_target_s: 1\n    slo: {p96_ms: 3}\n",
    )
    with pytest.raises(ConfigError, match=r"s\.yaml:3: experiments\.0"):
        load_scenario(path)
