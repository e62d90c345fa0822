"""The fault ledger: every fault goes through ``apply_fault`` / ``revert_fault``.

A fault is data (``Fault``: kind, target key, parameters), so its revert can be replayed by anyone
holding the record. ``apply_fault`` records the fault (and so registers its idempotent revert) *before*
applying it; ``revert_fault`` is idempotent and safe from any thread; ``revert_all`` undoes every active
fault (rollbacks, safeguards, signal handling). Start and end times go to ``faults.jsonl`` in the
experiment's output folder, on the run clock (epoch seconds).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resilience.errors import FaultError, ResilienceError
from resilience.targets.base import Target

__all__ = ["Fault", "FaultLedger", "ledger"]

log = logging.getLogger(__name__)

Revert = Callable[[Target, Mapping[str, Any]], None]


@dataclass(frozen=True)
class Fault:
    """One injected fault, described as data."""

    kind: str
    """Registered revert kind: ``toxic``, ``proxy-down``, ``release``, or ``instant`` (nothing to undo)."""
    key: str
    """Unique while active, e.g. ``toxic:postgres:latency_downstream``."""
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "params": dict(self.params)}


@dataclass
class _Active:
    fault: Fault
    target: Target
    out_dir: Path | None
    started: float


class FaultLedger:
    """Active faults of this process and how to revert each kind."""

    def __init__(self) -> None:
        self._reverts: dict[str, Revert] = {"instant": lambda _t, _p: None}
        self._active: dict[str, _Active] = {}
        self._lock = threading.RLock()

    def register_kind(self, kind: str, revert: Revert) -> None:
        """Declare how faults of ``kind`` are reverted (idempotent reverts only)."""
        self._reverts[kind] = revert

    def active(self) -> list[Fault]:
        """Faults applied and not yet reverted."""
        with self._lock:
            return [a.fault for a in self._active.values()]

    def apply_fault(self, target: Target, fault: Fault, apply: Callable[[], Any], *, out_dir: Path | None) -> Any:
        """Record ``fault`` (its revert is then registered), then apply it; revert at once if applying fails."""
        if fault.kind not in self._reverts:
            raise FaultError(f"fault kind {fault.kind!r} has no registered revert")
        now = time.time()
        with self._lock:
            self._active[fault.key] = _Active(fault, target, out_dir, now)
        _write(out_dir, {"event": "start", "t": now, **fault.to_json()})
        try:
            result = apply()
        except Exception as exc:
            self.revert_fault(fault.key)
            if isinstance(exc, ResilienceError):
                raise
            raise FaultError(f"{fault.key}: {exc}") from exc
        if fault.kind == "instant":
            self.revert_fault(fault.key)
        return result

    def revert_fault(self, key: str) -> bool:
        """Revert the active fault ``key``; False when it was not active (already reverted)."""
        with self._lock:
            entry = self._active.get(key)
            if entry is None:
                return False
            revert = self._reverts[entry.fault.kind]
            revert(entry.target, entry.fault.params)
            del self._active[key]
        _write(entry.out_dir, {"event": "end", "t": time.time(), **entry.fault.to_json()})
        log.info("reverted %s", key)
        return True

    def revert_all(self) -> list[str]:
        """Revert every active fault (newest first); keep going past failures; return the keys reverted."""
        done: list[str] = []
        errors: list[str] = []
        with self._lock:
            keys = list(reversed(self._active))
        for key in keys:
            try:
                if self.revert_fault(key):
                    done.append(key)
            except Exception as exc:  # noqa: BLE001 - every other fault must still be reverted
                errors.append(f"{key}: {exc}")
        if errors:
            raise FaultError("could not revert " + "; ".join(errors))
        return done


def _write(out_dir: Path | None, record: dict[str, Any]) -> None:
    if out_dir is None:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "faults.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


ledger = FaultLedger()
"""The process's ledger: Chaos Toolkit calls extension functions one by one, so it lives at module level."""
