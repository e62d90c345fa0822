"""A tiny Chaos Toolkit extension for runner tests: a fault whose revert writes a line to a file.

It stands in for a real fault only where the runner's own behaviour (signals, rollbacks, reverts) is
under test; real faults are tested against real servers in tests/integration.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resilience.faults.kinds import FaultKind
from resilience.faults.ledger import Fault, fault_ledger

__all__ = ["apply_marker", "boom", "hold", "remove_marker", "value"]


def _revert(target: Any, params: Mapping[str, Any]) -> None:
    with Path(params["log"]).open("a", encoding="utf-8") as fh:
        fh.write(f"reverted {params['key']} {time.time()}\n")


def apply_marker(log: str, key: str = "m", configuration: Mapping[str, Any] | None = None) -> str:
    """Record a marker fault (revert: a line in ``log``)."""
    with Path(log).open("a", encoding="utf-8") as fh:
        fh.write(f"applied {key}\n")
    ledger = fault_ledger()
    ledger.register_kind("test-marker", FaultKind(_revert))
    ledger.apply_fault(
        None, Fault("test-marker", f"marker:{key}", {"log": log, "key": key}), lambda: None, out_dir=None
    )  # type: ignore[arg-type]
    return key


def remove_marker(key: str = "m", configuration: Mapping[str, Any] | None = None) -> bool:
    """Revert the marker fault; idempotent."""
    return fault_ledger().revert_fault(f"marker:{key}")


def hold(seconds: float = 30.0, configuration: Mapping[str, Any] | None = None) -> float:
    """Sleep (the method's long step, where a signal lands)."""
    time.sleep(seconds)
    return seconds


def boom(configuration: Mapping[str, Any] | None = None) -> None:
    """An action that fails (a fault that cannot be applied)."""
    raise RuntimeError("cannot apply")


def value(result: bool = True, configuration: Mapping[str, Any] | None = None) -> bool:
    """A probe answering ``result``."""
    return result
