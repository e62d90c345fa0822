"""The fault ledger: every fault goes through ``apply_fault`` / ``revert_fault``.

A fault is data (``Fault``: kind, target key, parameters), so its revert can be replayed by anyone
holding the record. ``apply_fault`` records the fault (and so registers its idempotent revert) *before*
applying it; ``revert_fault`` is idempotent and safe from any thread; ``revert_all`` undoes every active
fault (rollbacks, safeguards, signal handling). Start and end times go to ``faults.jsonl`` in the
experiment's output folder, on the run clock (epoch seconds).

Durability (``resilience.safety``): a fault with something to revert is also written, fsync'ed, to the
target's state dir before it is applied and removed once its revert is verified, so ``resilience
cleanup`` can revert it after a crash; a kind with a ``renew`` hook (leased toxics, leased proxy-down)
is renewed by a keeper thread while this process lives, so the fault proxy drops it when we die.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resilience.errors import FaultError, ResilienceError
from resilience.faults.kinds import KINDS, FaultKind
from resilience.safety.fault_store import DurableLedger, state_dir_of_target
from resilience.safety.lease import LeaseKeeper, renew_every_s
from resilience.targets.base import Target

__all__ = ["Fault", "FaultLedger", "fault_ledger"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fault:
    """One injected fault, described as data."""

    kind: str
    """A kind of ``resilience.faults.kinds.KINDS``: ``toxic``, ``proxy-down``, ``release``, or ``instant``."""
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

    def __init__(self, kinds: Mapping[str, FaultKind] = KINDS) -> None:
        """``kinds``: how each kind of fault is reverted, verified and renewed (default: every kind there is)."""
        self._kinds = dict(kinds)
        self._active: dict[str, _Active] = {}
        self._lock = threading.RLock()
        self._keeper: LeaseKeeper | None = None

    def register_kind(self, kind: str, how: FaultKind) -> None:
        """Add a kind of fault this ledger can revert (an extension outside ``resilience.faults.kinds``,
        a test); called explicitly before its first fault, never as a side effect of an import."""
        with self._lock:
            self._kinds[kind] = how

    def adopt(self, target: Target, fault: Fault) -> None:
        """Take over a fault applied by another (dead) process, so ``revert_fault`` can revert it."""
        if fault.kind not in self._kinds:
            raise FaultError(f"fault kind {fault.kind!r} has no registered revert")
        with self._lock:
            self._active[fault.key] = _Active(fault, target, None, time.time())

    def renew_all(self) -> None:
        """Renew the lease of every active leased fault (the keeper thread calls this)."""
        with self._lock:
            for entry in list(self._active.values()):
                renew = self._kinds[entry.fault.kind].renew
                if renew is None:
                    continue
                try:
                    renew(entry.target, entry.fault.params)
                except Exception as exc:  # noqa: BLE001 - keep renewing the others; the lease is the backstop
                    log.warning("could not renew the lease of %s: %s", entry.fault.key, exc)

    def active(self) -> list[Fault]:
        """Faults applied and not yet reverted."""
        with self._lock:
            return [a.fault for a in self._active.values()]

    def apply_fault(self, target: Target, fault: Fault, apply: Callable[[], Any], *, out_dir: Path | None) -> Any:
        """Record ``fault`` (its revert is then registered), then apply it; revert at once if applying fails.

        Recording and applying are one step under the ledger's lock: a revert from another thread (the
        safeguards) waits until the fault is in place, and an interrupt (Ctrl-C, SIGTERM) that lands anywhere
        in between reverts what was recorded before it propagates, so no fault outlives its record.
        """
        if fault.kind not in self._kinds:
            raise FaultError(f"fault kind {fault.kind!r} has no registered revert")
        now = time.time()
        with self._lock:
            recorded = False
            try:
                if fault.kind != "instant":
                    _durable.record(target, fault, out_dir)
                recorded = True
                self._active[fault.key] = _Active(fault, target, out_dir, now)
                if self._kinds[fault.kind].renew is not None:
                    self._start_keeper()
                _write(out_dir, {"event": "start", "t": now, **fault.to_json()})
                result = apply()
            except BaseException as exc:
                if fault.key in self._active:
                    self.revert_fault(fault.key)
                elif recorded or not isinstance(exc, ResilienceError):
                    _durable.forget(target, fault.key)  # interrupted right after the record was written
                if isinstance(exc, ResilienceError) or not isinstance(exc, Exception):
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
            kind = self._kinds[entry.fault.kind]
            kind.revert(entry.target, entry.fault.params)
            verify = kind.verify
            if verify is not None and not verify(entry.target, entry.fault.params):
                raise FaultError(f"{key}: reverted, but the target still shows the fault")
            del self._active[key]
            if entry.fault.kind != "instant":
                _durable.forget(entry.target, key)
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

    def _start_keeper(self) -> None:
        with self._lock:
            if self._keeper is None or not self._keeper.is_alive():
                self._keeper = LeaseKeeper(self.renew_all, every_s=renew_every_s())
                self._keeper.start()


class _Durable:
    """The on-disk ledger of the fault's target (none without a target, as in unit tests)."""

    @staticmethod
    def record(target: Target | None, fault: Fault, out_dir: Path | None) -> None:
        if target is None:
            return
        try:
            DurableLedger(state_dir_of_target(target)).record(
                kind=fault.kind, key=fault.key, params=fault.params, target=target.name, out_dir=out_dir
            )
        except OSError as exc:
            raise FaultError(f"{fault.key}: not applied: cannot record it in the fault ledger: {exc}") from exc

    @staticmethod
    def forget(target: Target | None, key: str) -> None:
        if target is None:
            return
        DurableLedger(state_dir_of_target(target)).remove(key)


_durable = _Durable()


def _write(out_dir: Path | None, record: dict[str, Any]) -> None:
    if out_dir is None:
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "faults.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


@functools.cache
def fault_ledger() -> FaultLedger:
    """This process's ledger, made on first use: Chaos Toolkit calls extension functions one by one (the
    faults, the rollback, the safeguards), and they must all see the same active faults."""
    return FaultLedger()
