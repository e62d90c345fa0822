"""Safeguards control: abort the experiment when a hard limit is breached.

A watcher thread judges the load timeline every ``poll_s``: when the error rate stays above
``error_rate`` for ``for_s`` seconds, it reverts every active fault at once (from its own thread, so the
faults are gone within a poll), records the breach in ``safeguard.json``, and interrupts the experiment
(SIGUSR1: Chaos Toolkit stops the method, marks the run interrupted and still plays the rollbacks).
The watcher starts afresh with every experiment (no trip carried over) and stops before the rollbacks.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resilience.analysis.recovery import Sample
from resilience.analysis.samples import samples_of
from resilience.context import PROCESS, RunContext
from resilience.faults.ledger import fault_ledger
from resilience.load.events import EventTail, Raw

__all__ = [
    "Guard",
    "after_experiment_control",
    "before_rollback_control",
    "breached_since",
    "cleanup_control",
    "configure_control",
]

log = logging.getLogger(__name__)

_RESOLUTION_S = 0.25


def breached_since(samples: list[Sample], *, error_rate: float, now: float, resolution_s: float) -> float | None:
    """Start of the breach still going on at ``now`` (every bucket since then above ``error_rate``), or None.

    Buckets without traffic neither start nor break a breach.
    """
    since: float | None = None
    for s in sorted(samples, key=lambda s: s.t):
        if s.t >= now:
            break
        if s.throughput <= 0:
            continue
        breaching = s.error_rate > error_rate
        since = (since if since is not None else s.t) if breaching else None
    return since


class Guard(threading.Thread):
    """The watcher thread of one experiment."""

    def __init__(
        self, events_dir: Path, out_dir: Path | None, *, error_rate: float, for_s: float, poll_s: float
    ) -> None:
        super().__init__(name="resilience-safeguard", daemon=True)
        self.events_dir, self.out_dir = events_dir, out_dir
        self.error_rate, self.for_s, self.poll_s = error_rate, for_s, poll_s
        self.stopped = threading.Event()
        self.tripped: dict[str, Any] | None = None

    def halt(self) -> None:
        """Stop judging (the thread ends within a poll)."""
        self.stopped.set()

    def stop(self) -> None:
        """Stop judging and wait (bounded) for the thread to end."""
        self.halt()
        self.join(timeout=5)

    def run(self) -> None:
        tail = EventTail(self.events_dir)
        recent: list[Raw] = []
        while not self.stopped.wait(self.poll_s):
            now = time.time()
            # buckets on a fixed grid, so a breach keeps the start it had when it began
            start = math.floor((now - self.for_s - 5) / _RESOLUTION_S) * _RESOLUTION_S
            try:
                recent = [r for r in (*recent, *tail.poll()) if r[0] >= start]
            except Exception:  # a watcher that dies protects nothing: log and keep watching
                log.debug("safeguard could not read the events", exc_info=True)
                continue
            samples = samples_of(recent, start=start, end=now, resolution_s=_RESOLUTION_S)
            since = breached_since(samples, error_rate=self.error_rate, now=now, resolution_s=_RESOLUTION_S)
            if since is not None and now - since >= self.for_s:
                self._trip(since + self.for_s, now)
                return

    def _trip(self, breach_at: float, detected_at: float) -> None:
        try:
            reverted = fault_ledger().revert_all()
            error = None
        except Exception as exc:  # noqa: BLE001 - recorded; the rollbacks retry
            reverted, error = [], str(exc)
        self.tripped = {
            "limit": {"error_rate": self.error_rate, "for_s": self.for_s},
            "breach_at": breach_at,
            "detected_at": detected_at,
            "reverted_at": time.time(),
            "reverted": reverted,
            "revert_error": error,
        }
        log.warning(
            "safeguard tripped: error rate > %s for %s s; faults reverted: %s", self.error_rate, self.for_s, reverted
        )
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "safeguard.json").write_text(json.dumps(self.tripped, indent=2) + "\n", encoding="utf-8")
        if not self.stopped.is_set():
            os.kill(os.getpid(), signal.SIGUSR1)


def configure_control(
    configuration: Mapping[str, Any] | None = None,
    error_rate: float = 0.9,
    for_s: float = 20.0,
    poll_s: float = 0.2,
    **_: Any,
) -> None:
    """Start watching (scenario limits under ``resilience_safeguards`` win over the arguments)."""
    cleanup_control()
    context = RunContext.of(configuration)
    limits = context.safeguards
    events = context.events_dir
    if events is None:
        log.warning("safeguards: no load timeline to watch")
        return
    guard = Guard(
        events,
        context.out_dir,
        error_rate=float(limits.get("error_rate", error_rate)),
        for_s=float(limits.get("for_s", for_s)),
        poll_s=poll_s,
    )
    PROCESS.keep("safeguards", guard)
    guard.start()


def before_rollback_control(**_: Any) -> None:
    """Stop watching: the rollbacks are under way."""
    for guard in PROCESS.running("safeguards"):
        if isinstance(guard, Guard):
            guard.halt()


def after_experiment_control(**_: Any) -> None:
    """Revert every fault still active: a bare ``chaos run`` skips the rollbacks after an interrupt."""
    reverted = fault_ledger().revert_all()
    if reverted:
        log.warning("reverted faults left active after the experiment: %s", reverted)


def cleanup_control(**_: Any) -> None:
    """Stop and forget the watcher."""
    for guard in PROCESS.release("safeguards"):
        guard.stop()
