"""``resilience run`` input handling: --dry-run touches nothing, bad input exits 3 with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.cli import main

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SMOKE = str(ROOT / "scenarios" / "smoke.yaml")


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--dry-run validates, prints every experiment with its recovery target, writes no results."""
    assert (
        main(["run", SMOKE, "--dry-run", "--results-dir", str(tmp_path / "r"), "--state-dir", str(tmp_path / "s")]) == 0
    )
    out = capsys.readouterr().out
    assert "pod-kill" in out and "recovery target 15 s" in out and "db-failover" in out
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


def test_only_selects_and_unknown_names_are_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--only keeps the named experiments; a name the scenario lacks is invalid input naming the choices."""
    assert main(["run", SMOKE, "--dry-run", "--only", "db-latency"]) == 0
    out = capsys.readouterr().out
    assert "db-latency" in out and "pod-kill" not in out
    assert main(["run", SMOKE, "--dry-run", "--only", "nope"]) == 3
    assert "--only nope: not in" in capsys.readouterr().err


def test_broken_scenario_is_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A scenario with a bad field exits 3 with file:line:field, before any target is touched."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nexperiments: []\n", encoding="utf-8")
    assert main(["run", str(bad), "--state-dir", str(tmp_path / "s")]) == 3
    assert f"{bad}:2: experiments:" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()
