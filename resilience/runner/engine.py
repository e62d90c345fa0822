"""Run one Chaos Toolkit experiment with chaoslib on the main thread: rollbacks always, journal on disk."""

from __future__ import annotations

import json
import logging
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chaoslib.exceptions import InterruptExecution
from chaoslib.experiment import run_experiment
from chaoslib.run import RunEventHandler
from chaoslib.types import Strategy

from resilience.errors import FaultError
from resilience.faults.ledger import fault_ledger
from resilience.runner.signals import SignalGate
from resilience.safety.redact import redact

__all__ = ["Progress", "run_experiment_file"]

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

SETTINGS: dict[str, Any] = {"runtime": {"rollbacks": {"strategy": "always"}}}
"""``default`` skips rollbacks on failure and interrupts; we always play them."""


def _tick(ok: Any) -> str:
    return {True: "ok", False: "NOT MET", None: "-"}.get(ok, str(ok))


class _Events(RunEventHandler):  # type: ignore[misc]
    """Progress lines, and the signal gate kept in charge while chaoslib runs."""

    def __init__(self, name: str, progress: Progress, gate: SignalGate) -> None:
        self.name, self.progress, self.gate = name, progress, gate
        self._deferred: Any = None

    def running(self, *args: Any) -> None:
        # chaoslib just installed its own SIGTERM handler: ours again (see signals.py).
        signal.signal(signal.SIGTERM, self.gate.handle)
        signal.signal(signal.SIGINT, self.gate.handle)

    def hypothesis_before_completed(self, experiment: Any, state: Mapping[str, Any], journal: Any) -> None:
        self.progress(f"{self.name}: hypothesis before: {_tick((state or {}).get('steady_state_met'))}")

    def start_method(self, experiment: Any) -> None:
        self.progress(f"{self.name}: method")

    def activity_completed(self, activity: Mapping[str, Any], run: Mapping[str, Any]) -> None:
        status = run.get("status", "interrupted")
        self.progress(
            f"{self.name}:   {activity.get('type')} {activity.get('name')}: {status} ({run.get('duration', 0):.1f} s)"
        )

    def hypothesis_after_completed(self, experiment: Any, state: Mapping[str, Any], journal: Any) -> None:
        self.progress(f"{self.name}: hypothesis after: {_tick((state or {}).get('steady_state_met'))}")

    def start_rollbacks(self, experiment: Any) -> None:
        self._deferred = self.gate.deferred()
        self._deferred.__enter__()
        self.progress(f"{self.name}: rollbacks")

    def rollbacks_completed(self, experiment: Any, journal: Any) -> None:
        if self._deferred is not None:
            self._deferred.__exit__(None, None, None)
            self._deferred = None

    def finish(self, journal: Any) -> None:
        self.rollbacks_completed(None, None)


def _interrupted_journal(experiment: Mapping[str, Any], reason: str) -> dict[str, Any]:
    return {
        "experiment": dict(experiment),
        "status": "interrupted",
        "deviated": False,
        "steady_states": {"before": None, "after": None, "during": []},
        "run": [],
        "rollbacks": [],
        "interruption": reason,
    }


def run_experiment_file(
    experiment: dict[str, Any],
    name: str,
    *,
    configuration: Mapping[str, Any],
    out_dir: Path,
    progress: Progress,
    gate: SignalGate,
) -> dict[str, Any]:
    """Run ``experiment`` with ``configuration`` added; write and return its journal.

    Whatever happens (deviation, failure, Ctrl-C, SIGTERM, safeguard), every fault still active afterwards
    is reverted through the ledger before this returns.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    experiment = json.loads(json.dumps(experiment))
    experiment.setdefault("configuration", {}).update(configuration)
    journal: dict[str, Any]
    started = time.time()
    revert_error: str | None = None
    try:
        journal = run_experiment(
            experiment, settings=SETTINGS, strategy=Strategy.DEFAULT, event_handlers=[_Events(name, progress, gate)]
        )
    except (KeyboardInterrupt, InterruptExecution) as exc:
        # a SIGTERM in the instant chaoslib's own handler is installed arrives as InterruptExecution
        if isinstance(exc, InterruptExecution) and "SIGTERM" in str(exc):
            gate.received = gate.received or "SIGTERM"
        journal = _interrupted_journal(experiment, f"interrupted outside the method: {exc}")
    finally:
        with gate.deferred():
            try:
                reverted = fault_ledger().revert_all()
            except FaultError as exc:
                reverted, revert_error = [], str(exc)
                progress(f"{name}: REVERT FAILED: {exc}")
            if reverted:
                progress(f"{name}: reverted left-over faults: {', '.join(reverted)}")
    extra = journal.setdefault("resilience", {})
    extra["wall_s"] = round(time.time() - started, 3)
    extra["revert_error"] = revert_error
    text = redact(json.dumps(journal, indent=2, default=str))  # no secret in a journal (resilience.safety)
    (out_dir / "journal.json").write_text(text + "\n", encoding="utf-8")
    return journal
