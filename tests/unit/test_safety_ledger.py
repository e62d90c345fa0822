"""The durable fault ledger: on disk before a fault is applied, gone only after its revert was verified."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from resilience.errors import ConfigError, FaultError
from resilience.faults.kinds import FaultKind
from resilience.faults.ledger import Fault, FaultLedger
from resilience.safety.fault_store import DurableLedger, state_dir_for, state_dir_of_target

pytestmark = pytest.mark.unit


class _Layout:
    def __init__(self, root: Path) -> None:
        self.root = root


class _Target:
    """Just enough of a Target for the ledger: a name and a state dir (no I/O)."""

    def __init__(self, root: Path) -> None:
        self.name = "local"
        self.layout = _Layout(root)


def test_record_is_complete_json_and_removed(tmp_path: Path) -> None:
    """A record names kind, key, params, target and pid; remove() deletes it and is idempotent."""
    durable = DurableLedger(tmp_path)
    path = durable.record(kind="toxic", key="toxic:p:t", params={"proxy": "p"}, target="local", out_dir=tmp_path)
    doc = json.loads(path.read_text())
    assert doc["kind"] == "toxic" and doc["key"] == "toxic:p:t" and doc["params"] == {"proxy": "p"}
    assert [e.key for e in durable.entries()] == ["toxic:p:t"]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    durable.remove("toxic:p:t")
    durable.remove("toxic:p:t")
    assert durable.entries() == [] and not durable


def test_malformed_record_names_its_file(tmp_path: Path) -> None:
    """A truncated record is a ConfigError naming the file, not a traceback."""
    durable = DurableLedger(tmp_path)
    durable.dir.mkdir()
    bad = durable.dir / "x.fault.json"
    bad.write_text('{"kind": "toxic"')
    with pytest.raises(ConfigError, match=r"x\.fault\.json: unreadable fault record"):
        durable.entries()


def test_apply_writes_the_record_before_applying_and_revert_removes_it(tmp_path: Path) -> None:
    """While the fault is applied its record is already on disk; after the verified revert it is gone."""
    ledger = FaultLedger()
    reverted: list[Mapping[str, Any]] = []
    ledger.register_kind("rec", FaultKind(lambda _t, p: reverted.append(p), verify=lambda _t, _p: True))
    target = _Target(tmp_path)
    durable = DurableLedger(tmp_path)
    seen: list[list[str]] = []
    ledger.apply_fault(
        target,
        Fault("rec", "k", {"n": 1}),
        lambda: seen.append([e.key for e in durable.entries()]),  # type: ignore[arg-type]
        out_dir=None,
    )
    assert seen == [["k"]]
    assert ledger.revert_fault("k") is True
    assert reverted == [{"n": 1}] and durable.entries() == []


def test_unverified_revert_keeps_the_record(tmp_path: Path) -> None:
    """A revert the target does not confirm raises and leaves the fault active and recorded for a retry."""
    ledger = FaultLedger()
    ledger.register_kind("rec", FaultKind(lambda _t, _p: None, verify=lambda _t, _p: False))
    target = _Target(tmp_path)
    ledger.apply_fault(target, Fault("rec", "k"), lambda: None, out_dir=None)  # type: ignore[arg-type]
    with pytest.raises(FaultError, match="k: reverted, but the target still shows the fault"):
        ledger.revert_fault("k")
    assert [f.key for f in ledger.active()] == ["k"]
    assert [e.key for e in DurableLedger(tmp_path).entries()] == ["k"]


def test_instant_faults_are_not_recorded(tmp_path: Path) -> None:
    """A pod kill has nothing to revert: no record is written."""
    ledger = FaultLedger()
    ledger.apply_fault(_Target(tmp_path), Fault("instant", "kill"), lambda: None, out_dir=None)  # type: ignore[arg-type]
    assert not (tmp_path / "faults").exists()


def test_adopted_fault_of_a_dead_process_is_reverted_and_forgotten(tmp_path: Path) -> None:
    """cleanup adopts a record written by another process and reverts it through the same path."""
    durable = DurableLedger(tmp_path)
    durable.record(kind="rec", key="k", params={"n": 2}, target="local")
    ledger = FaultLedger()
    reverted: list[Mapping[str, Any]] = []
    ledger.register_kind("rec", FaultKind(lambda _t, p: reverted.append(p)))
    entry = durable.entries()[0]
    ledger.adopt(_Target(tmp_path), Fault(entry.kind, entry.key, entry.params))  # type: ignore[arg-type]
    assert ledger.revert_all() == ["k"]
    assert reverted == [{"n": 2}] and durable.entries() == []


def test_unwritable_ledger_refuses_the_fault(tmp_path: Path) -> None:
    """When the record cannot be written the fault is not applied at all."""
    (tmp_path / "faults").write_text("not a folder")
    ledger = FaultLedger()
    ledger.register_kind("rec", FaultKind(lambda _t, _p: None))
    applied: list[int] = []
    with pytest.raises(FaultError, match="not applied: cannot record it in the fault ledger"):
        ledger.apply_fault(_Target(tmp_path), Fault("rec", "k"), lambda: applied.append(1), out_dir=None)  # type: ignore[arg-type]
    assert applied == [] and ledger.active() == []


def test_state_dir_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given dir wins; local follows $RESILIENCE_STATE_DIR; clusters get ./.state/<name>."""
    monkeypatch.setenv("RESILIENCE_STATE_DIR", str(tmp_path / "s"))
    assert state_dir_for("local") == tmp_path / "s"
    assert state_dir_for("kind", tmp_path / "k") == tmp_path / "k"
    assert state_dir_for("staging").name == "staging"
    assert state_dir_of_target(_Target(tmp_path)) == tmp_path


def test_an_interrupt_while_applying_reverts_and_forgets_the_fault(tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM landing inside the apply step (a KeyboardInterrupt) reverts the fault and removes its
    record before it propagates: no fault outlives its record, none stays recorded without being active."""
    ledger = FaultLedger()
    reverted: list[Mapping[str, Any]] = []
    ledger.register_kind("rec", FaultKind(lambda _t, p: reverted.append(p)))

    def interrupted() -> None:
        raise KeyboardInterrupt("SIGTERM")

    with pytest.raises(KeyboardInterrupt):
        ledger.apply_fault(_Target(tmp_path), Fault("rec", "k", {"n": 1}), interrupted, out_dir=None)  # type: ignore[arg-type]
    assert reverted == [{"n": 1}]
    assert ledger.active() == [] and DurableLedger(tmp_path).entries() == []
