"""``resilience cleanup``: revert whatever the fault ledger holds and prove the target clean.

Works after a crash, ``kill -9`` or power loss of the harness: the ledger is on disk, and the lock file
names the dead run, whose folder is then marked interrupted and whose load generator is stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resilience.errors import FaultError, TargetError
from resilience.faults.ledger import Fault, fault_ledger
from resilience.safety import redact
from resilience.safety.clean_check import Check, check_clean
from resilience.safety.fault_store import DurableLedger, LedgerEntry
from resilience.safety.interrupted import mark_interrupted_runs, run_dirs_of, stop_orphan_load
from resilience.safety.lock import Holder, RunLock
from resilience.safety.redact import register_secrets_file, scrub_folder
from resilience.targets.base import Target

__all__ = ["CleanupReport", "cleanup", "exclusive_run"]

Say = Callable[[str], None]


@dataclass
class CleanupReport:
    """What cleanup found, did and verified."""

    recorded: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    marked: list[str] = field(default_factory=list)
    stopped_load: list[int] = field(default_factory=list)
    stale_run: str | None = None
    target_running: bool = True
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.errors and all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "recorded": self.recorded,
            "reverted": self.reverted,
            "errors": self.errors,
            "checks": [c.to_json() for c in self.checks],
            "marked_interrupted": self.marked,
            "stopped_load_pids": self.stopped_load,
            "stale_run": self.stale_run,
            "target_running": self.target_running,
            "seconds": round(self.seconds, 3),
        }


def _after_dead_run(stale: Holder | None, entries: list[LedgerEntry], report: CleanupReport) -> None:
    """Mark the dead run's folders interrupted and stop its load (found through the lock or the ledger)."""
    found: set[tuple[Path, int]] = set()
    if stale is not None and stale.purpose == "run":
        report.stale_run = stale.describe()
        if stale.results_dir:
            found.add((Path(stale.results_dir), stale.pid))
    for e in entries:
        if e.out_dir:
            found.add((Path(e.out_dir).parent.parent, e.pid))
    for results_dir, pid in sorted(found):
        for run_dir in run_dirs_of(results_dir, pid):
            report.stopped_load += stop_orphan_load(run_dir)
        started = stale.acquired if stale is not None and stale.pid == pid else None
        report.marked += [str(p) for p in mark_interrupted_runs(results_dir, pid, started=started)]
        for run_dir in run_dirs_of(results_dir, pid):
            scrub_folder(run_dir)


def _revert(target: Target, entries: list[LedgerEntry], report: CleanupReport) -> None:
    ledger = fault_ledger()

    for e in entries:
        try:
            ledger.adopt(target, Fault(e.kind, e.key, e.params))
        except FaultError as exc:
            report.errors.append(f"{e.path}: {exc}")
    try:
        report.reverted = ledger.revert_all()
    except FaultError as exc:
        report.errors.append(str(exc))


def _release_expected(entries: list[LedgerEntry]) -> str | None:
    previous = [e.params.get("previous") for e in entries if e.kind == "release"]
    return str(previous[0]) if previous and previous[0] else None


def cleanup(target: Target, state_dir: Path, *, timeout_s: float = 60.0, say: Say = lambda _l: None) -> CleanupReport:
    """Revert every recorded fault of ``target``, verify each revert and then the whole target."""
    t0 = time.monotonic()
    report = CleanupReport()
    register_secrets_file(state_dir / "secrets.json")
    with RunLock(state_dir, "cleanup") as lock:
        durable = DurableLedger(state_dir)
        entries = durable.entries()
        report.recorded = [e.key for e in entries]
        say(f"fault ledger {durable.dir}: {len(entries)} recorded fault(s) {', '.join(report.recorded)}".rstrip())
        _after_dead_run(lock.stale, entries, report)
        if report.stale_run:
            say(f"previous run died: {report.stale_run}")
        if report.marked:
            say(f"marked interrupted: {', '.join(report.marked)}")
        if not target.is_up():
            report.target_running = False
            for e in entries:
                durable.remove(e.key)
            say(f"target {target.name} is not running: its faults went with it; ledger cleared")
            report.seconds = time.monotonic() - t0
            return report
        _revert(target, entries, report)
        if report.reverted:
            say(f"reverted and verified: {', '.join(report.reverted)}")
        report.checks = check_clean(target, release=_release_expected(entries), timeout_s=timeout_s)
        for check in report.checks:
            say(check.line())
    report.seconds = time.monotonic() - t0
    return report


@contextmanager
def exclusive_run(state_dir: Path, results_dir: Path, say: Say) -> Iterator[RunLock]:
    """Hold the target's run lock for a run; refuse while faults of an earlier run are still recorded."""
    redact.register_secrets_file(state_dir / "secrets.json")
    redact.install_logging_filter()
    with RunLock(state_dir, "run", results_dir=results_dir) as lock:
        if lock.stale is not None:
            report = CleanupReport()
            _after_dead_run(lock.stale, [], report)
            say(
                f"note: an earlier {lock.stale.describe()} died without finishing"
                + (f"; marked interrupted: {', '.join(report.marked)}" if report.marked else "")
            )
        left = DurableLedger(state_dir).entries()
        if left:
            keys = ", ".join(e.key for e in left)
            raise TargetError(
                f"faults of an earlier run are still recorded in {state_dir / 'faults'} ({keys}): "
                "run 'resilience cleanup' first"
            )
        try:
            yield lock
        finally:
            redact.register_secrets_file(state_dir / "secrets.json")
            for run_dir in run_dirs_of(results_dir, os.getpid()):
                redact.scrub_folder(run_dir)
