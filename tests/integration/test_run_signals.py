"""Rollbacks always run: on deviation, on SIGINT and on SIGTERM in the middle of the method (real chaoslib)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from resilience.runner.engine import run_experiment_file
from resilience.runner.signals import SignalGate
from resilience.runner.verdict import problems

pytestmark = pytest.mark.integration  # chaoslib runs `uname -p` (platform.platform) for each journal

MOD = "tests.support.ctk_extension"


def _experiment(log: Path, hold_s: float) -> dict[str, Any]:
    def action(name: str, func: str, **args: Any) -> dict[str, Any]:
        return {
            "type": "action",
            "name": name,
            "provider": {"type": "python", "module": MOD, "func": func, "arguments": args},
        }

    return {
        "title": "t",
        "description": "d",
        "method": [action("apply", "apply_marker", log=str(log)), action("hold", "hold", seconds=hold_s)],
        "rollbacks": [action("remove", "remove_marker")],
    }


def _run(tmp_path: Path, hold_s: float, gate: SignalGate) -> dict[str, Any]:
    return run_experiment_file(
        _experiment(tmp_path / "log", hold_s),
        "t",
        configuration={},
        out_dir=tmp_path,
        progress=lambda _l: None,
        gate=gate,
    )


def _action(name: str, func: str, kind: str = "action", **args: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "provider": {"type": "python", "module": MOD, "func": func, "arguments": args}}


def test_rollbacks_run_when_an_action_fails(tmp_path: Path) -> None:
    """A failing action (chaos run would exit 0) still gets its rollbacks, and the verdict sees the failure."""
    experiment = _experiment(tmp_path / "log", 0.0)
    experiment["method"].insert(1, _action("boom", "boom"))
    journal = run_experiment_file(
        experiment, "t", configuration={}, out_dir=tmp_path, progress=lambda _l: None, gate=SignalGate()
    )
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert problems(journal)[0] == ["action boom: RuntimeError: cannot apply"]


def test_rollbacks_run_when_the_steady_state_is_not_met(tmp_path: Path) -> None:
    """A hypothesis that fails before the method skips the method but not the rollbacks."""
    experiment = _experiment(tmp_path / "log", 0.0)
    probe = _action("ok", "value", kind="probe", result=False)
    experiment["steady-state-hypothesis"] = {"title": "h", "probes": [{**probe, "tolerance": True}]}
    journal = run_experiment_file(
        experiment, "t", configuration={}, out_dir=tmp_path, progress=lambda _l: None, gate=SignalGate()
    )
    assert journal["steady_states"]["before"]["steady_state_met"] is False
    assert journal["run"] == []
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]


def test_rollbacks_run_on_success(tmp_path: Path) -> None:
    """A completed method is followed by its rollbacks; the journal is written."""
    journal = _run(tmp_path, 0.0, SignalGate())
    assert journal["status"] == "completed"
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert (tmp_path / "log").read_text().count("reverted") == 1
    assert (tmp_path / "journal.json").is_file()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_method_still_plays_rollbacks(tmp_path: Path, signum: int) -> None:
    """A signal mid-method stops the method, marks the run interrupted, and the rollbacks still run."""
    gate = SignalGate()
    gate.install()
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signum))
    try:
        timer.start()
        journal = _run(tmp_path, 30.0, gate)
    finally:
        timer.cancel()
        gate.restore()
    assert journal["status"] == "interrupted"
    assert gate.received == signal.Signals(signum).name
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert (tmp_path / "log").read_text().count("reverted") == 1
    assert journal["resilience"]["wall_s"] < 20


def test_deferred_signal_is_recorded_not_raised() -> None:
    """While rollbacks run a signal is only recorded, so a second Ctrl-C cannot cut them short."""
    gate = SignalGate()
    gate.install()
    try:
        with gate.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
        assert gate.received == "SIGTERM"
    finally:
        gate.restore()
