"""The fault ledger: a fault is recorded before it is applied, reverts are idempotent, revert_all keeps going."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from resilience.errors import FaultError
from resilience.faults.kinds import FaultKind
from resilience.faults.ledger import Fault, FaultLedger

pytestmark = pytest.mark.unit


def _ledger(log: list[str]) -> FaultLedger:
    ledger = FaultLedger()
    ledger.register_kind("rec", FaultKind(lambda _t, p: log.append(f"revert {p['n']}")))
    return ledger


def test_revert_is_registered_before_apply(tmp_path: Path) -> None:
    """While the fault is being applied it is already in the ledger (a crash mid-apply can still revert it)."""
    log: list[str] = []
    ledger = _ledger(log)
    seen: list[list[Fault]] = []
    ledger.apply_fault(None, Fault("rec", "a", {"n": 1}), lambda: seen.append(ledger.active()), out_dir=tmp_path)  # type: ignore[arg-type]
    assert [f.key for f in seen[0]] == ["a"]
    assert ledger.revert_fault("a") is True
    assert ledger.revert_fault("a") is False
    assert log == ["revert 1"]
    events = [json.loads(x) for x in (tmp_path / "faults.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "end"]
    assert events[0]["t"] <= events[1]["t"]


def test_failed_apply_is_reverted_and_reported() -> None:
    """A fault that fails to apply is reverted at once and raised as one FaultError."""
    log: list[str] = []
    ledger = _ledger(log)

    def boom() -> None:
        raise OSError("connection refused")

    with pytest.raises(FaultError, match="a: connection refused"):
        ledger.apply_fault(None, Fault("rec", "a", {"n": 1}), boom, out_dir=None)  # type: ignore[arg-type]
    assert log == ["revert 1"]
    assert ledger.active() == []


def test_instant_faults_are_not_left_active() -> None:
    """A fault with nothing to undo (a pod kill) is recorded and closed at once."""
    ledger = FaultLedger()
    assert ledger.apply_fault(None, Fault("instant", "kill"), lambda: 7, out_dir=None) == 7  # type: ignore[arg-type]
    assert ledger.active() == []


def test_revert_all_keeps_going_past_a_failure() -> None:
    """One revert failing does not stop the others; the failure stays active for a retry and is reported."""
    log: list[str] = []
    ledger = _ledger(log)

    def flaky(_t: Any, p: Any) -> None:
        raise OSError("api down")

    ledger.register_kind("flaky", FaultKind(flaky))
    ledger.apply_fault(None, Fault("rec", "a", {"n": 1}), lambda: None, out_dir=None)  # type: ignore[arg-type]
    ledger.apply_fault(None, Fault("flaky", "b"), lambda: None, out_dir=None)  # type: ignore[arg-type]
    ledger.apply_fault(None, Fault("rec", "c", {"n": 3}), lambda: None, out_dir=None)  # type: ignore[arg-type]
    with pytest.raises(FaultError, match="could not revert b: api down"):
        ledger.revert_all()
    assert log == ["revert 3", "revert 1"]
    assert [f.key for f in ledger.active()] == ["b"]


def test_unknown_kind_is_refused_before_anything_happens() -> None:
    """A fault without a registered revert is never applied."""
    applied: list[int] = []
    with pytest.raises(FaultError, match="no registered revert"):
        FaultLedger().apply_fault(None, Fault("nope", "x"), lambda: applied.append(1), out_dir=None)  # type: ignore[arg-type]
    assert applied == []
