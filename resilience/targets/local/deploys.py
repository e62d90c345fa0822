"""Deploys of the local stack: rolling and blue-green, with an analysis that rolls back by itself.

rolling (maxSurge 1, maxUnavailable 0), for each serving replica in turn:
    start a new-release replica in a free slot ─► ready ─► HAProxy ready (UP in every process) ─► it serves
    ─► the old replica is retired (drain, SIGTERM) in the background: never fewer ready replicas than configured

blue-green:
    start a whole new set in free slots ─► all ready, warmed behind HAProxy in ``drain`` (checked, no traffic)
    ─► switch: one runtime-API line per HAProxy process (new set ready, old set drain) ─► the old set stays up,
    drained, for ``scaleDownDelaySeconds`` (instant rollback: switch back) ─► retired

The analysis (``resilience.targets.analysis``) measures the new replicas from the first one that serves;
when it fails, the deploy rolls back by itself: rolling starts previous-release replicas for every new one
at once and retires the new ones as they are replaced; blue-green switches back. A new replica that never
becomes ready within ``progressDeadlineSeconds`` halts the deploy: it is stopped, the old ones keep serving.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

from resilience.errors import ConfigError, TargetError
from resilience.targets.analysis import AnalysisRun, parse_template
from resilience.targets.base import DeployOutcome, DeployResult
from resilience.targets.local import lb, probes
from resilience.targets.local.configs import Binaries
from resilience.targets.local.releases import RELEASES
from resilience.targets.local.slots import Slots
from resilience.targets.local.view import StackView

__all__ = ["STRATEGIES", "deploy", "restore"]

STRATEGIES = ("rolling", "blue-green")
_OPTIONS = {"progressDeadlineSeconds": 30.0, "scaleDownDelaySeconds": 10.0, "measurementsPerStep": 2}
_BLUE_GREEN_STAGGER_S = 1.0
"""Blue-green retires the old set one replica per this many seconds: retired together, all their WebSocket
clients reconnected and caught up in the same second (a p95 window of 105-127 ms on the quiet box)."""
"""``measurementsPerStep``: a rolling deploy moves to the next replica once the analysis judged the new ones
this many times with data (their traffic reached Prometheus); 0 rolls on as soon as a replica is ready."""


class _Halted(Exception):
    """A new replica did not become ready before the progress deadline."""


class _Aborted(Exception):
    """The analysis failed."""


class _Deploy:
    """One deploy's bookkeeping: steps, the analysis, the retirements still running."""

    def __init__(self, view: StackView, bins: Binaries, release: str, strategy: str, options: Mapping[str, Any]):
        self.release = release
        self.strategy = strategy
        self.previous = view.state.release
        self.started = time.time()
        self.steps: list[tuple[float, str]] = []
        self.slots = Slots(view, bins, self.note)
        self.view = view
        self.progress_s = float(options.get("progressDeadlineSeconds", _OPTIONS["progressDeadlineSeconds"]))
        self.keep_s = float(options.get("scaleDownDelaySeconds", _OPTIONS["scaleDownDelaySeconds"]))
        self.per_step = int(options.get("measurementsPerStep", _OPTIONS["measurementsPerStep"]))
        self.new: list[str] = []
        self.analysis: AnalysisRun | None = None
        self.switched_at: float | None = None
        self.rollback_started: float | None = None
        self.rollback_finished: float | None = None
        self._retiring: list[threading.Thread] = []

    def note(self, event: str) -> None:
        self.steps.append((time.time(), event))

    def selector(self) -> str:
        ports = "|".join(f"127.0.0.1:{self.view.state.ports[n]}" for n in self.new) or "none"
        return f'job="chat-api", instance=~"{ports}", release="{self.release}"'

    def check(self) -> None:
        if self.analysis is not None and self.analysis.failed.is_set():
            raise _Aborted(self.analysis.reason)

    def retire_later(self, name: str) -> None:
        with self.slots.lock:
            self.slots.retiring.add(name)  # not free from now on, before the thread runs
        t = threading.Thread(target=self.slots.retire, args=(name,), name=f"retire-{name}", daemon=True)
        t.start()
        self._retiring.append(t)

    def join_retired(self) -> None:
        for t in self._retiring:
            t.join(60)
        self._retiring.clear()

    def set_active(self, names: list[str]) -> None:
        self.view.state.active = list(names)
        self.slots.save()

    def start_ready(self, names: list[str], release: str) -> None:
        """Start ``names`` on ``release`` together; _Halted when one is not ready in time."""
        deadline = time.monotonic() + self.progress_s
        for name in names:
            self.slots.start(name, release)
        for name in names:
            if not self.slots.wait_ready(name, release, deadline):
                raise _Halted(f"{name} on {release} not ready within {self.progress_s:g} s")

    # -- rolling ----------------------------------------------------------------------------------
    def rolling(self) -> None:
        for victim in list(self.view.state.chat_names()):
            self.check()
            (slot,) = self.slots.free()[:1]
            self.new.append(slot)
            self.start_ready([slot], self.release)
            self.serve([slot], instead_of=[victim])
            self.gate(time.time(), canary=len(self.new) == 1)
        if self.analysis is not None:
            self.analysis.finish()

    def gate(self, since: float, *, canary: bool) -> None:
        """Wait until the analysis judged the new replicas (or failed); without traffic, at most 15 s (data
        takes up to ~8 s to arrive: Prometheus applies service discovery changes every 5 s).

        The first new replica (the canary) waits for ``measurementsPerStep`` measurements with data of every
        metric (one with too little, REST latency under a mostly WebSocket load, for at most 10 s); a later
        step for that many of the metric with the most data. Waiting at every step for a metric with sparse
        traffic made a 3-replica deploy take up to 34.6 s; the analysis keeps measuring in the background all
        along, and a failed measurement aborts the deploy at any step.
        """
        deadline = time.monotonic() + min(self.progress_s, 15.0)
        no_data_after_s = 10.0 if canary else 0.0
        while self.per_step and self.analysis is not None and time.monotonic() < deadline:
            self.check()
            if self.analysis.phase() != "Running":
                return
            if self.analysis.judged_since(since, self.per_step, no_data_after_s=no_data_after_s):
                self.note(f"analysis passed {self.per_step} measurement(s) of {', '.join(self.new)}")
                return
            time.sleep(0.1)

    def serve(self, names: list[str], *, instead_of: list[str]) -> None:
        """Put ``names`` in rotation (UP everywhere), then retire ``instead_of`` in the background."""
        lb.set_states(self.view, dict.fromkeys(names, "ready"))
        if not self.slots.wait_lb(names, ("UP",), time.monotonic() + self.progress_s):
            raise _Halted(f"HAProxy did not report {', '.join(names)} UP within {self.progress_s:g} s")
        active = [n for n in self.view.state.chat_names() if n not in instead_of] + names
        self.set_active(active)
        self.note(f"{', '.join(names)} serving; retiring {', '.join(instead_of)}")
        if self.analysis is None:
            self.analysis = AnalysisRun(self.template, self.prometheus, self.selector).start()
            self.note("analysis started")
        for victim in instead_of:
            self.retire_later(victim)

    def roll_back_rolling(self) -> None:
        """Previous-release replicas for every new one at once; the new ones retired as soon as replaced."""
        bad = [n for n in self.new if n in self.view.state.chat_names()]
        stray = [n for n in self.new if n not in bad]
        for name in stray:
            self.slots.discard(name)
        if not bad:
            return
        deadline = time.monotonic() + 30
        while len(fresh := self.slots.free()[: len(bad)]) < len(bad) and time.monotonic() < deadline:
            time.sleep(0.1)  # slots of old replicas still being retired
        self.start_ready(fresh, self.previous)
        self.serve_back(fresh, bad)

    def serve_back(self, fresh: list[str], bad: list[str]) -> None:
        lb.set_states(self.view, dict.fromkeys(fresh, "ready"))
        self.slots.wait_lb(fresh, ("UP",), time.monotonic() + self.progress_s)
        lb.set_states(self.view, dict.fromkeys(bad, "drain"))
        self.set_active([n for n in self.view.state.chat_names() if n not in bad] + fresh)
        self.note(f"{', '.join(fresh)} ({self.previous}) serving; retiring {', '.join(bad)}")
        self.retire_now(bad)

    def retire_now(self, names: list[str]) -> None:
        """Retire ``names`` together without waiting for their requests to drain first (they are bad: their
        WebSockets must go), and mark the moment none of them serves anything any more."""
        threads = [threading.Thread(target=self.slots.retire, args=(n,), kwargs={"drain_s": 0.0}) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.rollback_finished = time.time()
        self.note(f"all traffic on {self.previous}")

    # -- blue-green -------------------------------------------------------------------------------
    def blue_green(self) -> None:
        blue = list(self.view.state.chat_names())
        green = self.slots.free()[: len(blue)]
        if len(green) < len(blue):
            raise TargetError(f"blue-green needs {len(blue)} free chat slots, {len(green)} are free")
        self.new = list(green)
        for name in green:  # one by one: started together, their start-up CPU starved the serving set (two cores)
            self.start_ready([name], self.release)
        lb.set_states(self.view, dict.fromkeys(green, "drain"))  # health-checked, no traffic
        if not self.slots.wait_lb(green, ("DRAIN", "UP"), time.monotonic() + self.progress_s):
            raise _Halted(f"HAProxy did not see {', '.join(green)} healthy within {self.progress_s:g} s")
        self.note(f"green {', '.join(green)} warm")
        lb.set_states(self.view, {**dict.fromkeys(green, "ready"), **dict.fromkeys(blue, "drain")})
        self.switched_at = time.time()
        self.set_active(green)
        self.note(f"switched: {', '.join(green)} ({self.release}) serving, {', '.join(blue)} kept drained")
        self.analysis = AnalysisRun(self.template, self.prometheus, self.selector).start(finishing=True)
        keep_until = time.monotonic() + self.keep_s
        while time.monotonic() < keep_until or self.analysis.phase() == "Running":
            if self.analysis.failed.is_set():
                self.rollback_started = time.time()
                self.note(f"analysis failed: {self.analysis.reason}; switching back")
                lb.set_states(self.view, {**dict.fromkeys(blue, "ready"), **dict.fromkeys(green, "drain")})
                self.set_active(blue)
                self.retire_now(green)
                raise _Aborted(self.analysis.reason)
            time.sleep(0.1)
        for i, name in enumerate(blue):
            if i:
                time.sleep(_BLUE_GREEN_STAGGER_S)
            self.retire_later(name)

    # -- the whole deploy -------------------------------------------------------------------------
    def run(self, template_raw: Mapping[str, Any] | None) -> DeployResult:
        self.template = parse_template(template_raw, "deploy")
        self.prometheus = f"http://127.0.0.1:{self.view.state.ports['prometheus']}"
        state = self.view.state
        state.previous_release, state.release = self.previous, self.release
        state.revision += 1
        self.slots.save()
        outcome: DeployOutcome = "completed"
        by: Literal["system"] | None = None
        reason = ""
        try:
            self.blue_green() if self.strategy == "blue-green" else self.rolling()
            if self.switched_at is None:
                self.switched_at = time.time()
            if self.analysis is not None:
                while self.analysis.phase() == "Running":
                    time.sleep(0.1)
                self.check()
        except _Halted as exc:
            outcome, reason = "halted", str(exc)
            self.note(f"halted: {exc}")
            self.rollback_started = time.time()
            self.roll_back_rolling()
        except _Aborted as exc:
            outcome, by, reason = "rolled_back", "system", str(exc)
            if self.rollback_started is None:
                self.rollback_started = time.time()
                self.note(f"analysis failed: {exc}; rolling back")
                self.roll_back_rolling()
        finally:
            if self.analysis is not None:
                self.analysis.stop()
        self.join_retired()
        if outcome != "completed":
            state.release = self.previous
        state.deploying = False
        state.deployer = None
        self.slots.save()
        self.note(f"deploy {outcome}")
        measurements = tuple(m.model_dump() for m in (self.analysis.measurements if self.analysis else []))
        return DeployResult(
            strategy=self.strategy,
            release=self.release,
            previous=self.previous,
            started=self.started,
            finished=time.time(),
            outcome=outcome,
            rolled_back_by=by,
            reason=reason,
            switched_at=self.switched_at if outcome == "completed" else None,
            rollback_started=self.rollback_started,
            rollback_finished=self.rollback_finished,
            steps=tuple(self.steps),
            measurements=measurements,
        )


def deploy(
    view: StackView,
    bins: Binaries,
    release: str,
    strategy: str,
    *,
    analysis: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> DeployResult:
    """Deploy ``release`` with ``strategy``; return when it completed, halted or rolled back by itself."""
    if release not in RELEASES:
        raise ConfigError(f"deploy: unknown chat release {release!r} (choose from {', '.join(RELEASES)})")
    if strategy not in STRATEGIES:
        raise ConfigError(f"deploy: unknown strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")
    unknown = sorted(set(options or {}) - set(_OPTIONS))
    if unknown:
        raise ConfigError(f"deploy: unknown option {unknown[0]!r} (choose from {', '.join(_OPTIONS)})")
    if len(view.state.chat_slots()) < 2 * len(view.state.chat_names()):
        raise TargetError(
            "deploy: this stack has no spare chat slots (started before deploys existed): 'resilience down' and 'up'"
        )
    view.state.deploying = True
    view.state.deployer = os.getpid()
    view.state.save(view.layout.state_file)
    return _Deploy(view, bins, release, strategy, options or {}).run(analysis)


def restore(view: StackView, bins: Binaries) -> None:
    """After an interrupted deploy: one complete colour serves, in HAProxy's rotation, and nothing else runs.

    A blue-green deploy interrupted between its switch and the old set's retirement left that set running,
    drained, on the previous release: when it is complete and ready, traffic switches back to it (the instant
    rollback it was kept for) and the new set is retired. Otherwise the slots that do not serve are stopped (a
    set that never served, a kept set already partly retired, a surge replica) and the serving ones are put in
    rotation; ``releases.rollback`` then rolls them back in place if they run the new release. Idempotent."""
    slots = Slots(view, bins, lambda _e: None)
    state = view.state
    serving = state.chat_names()
    kept = _kept_set(view, slots, serving)
    if kept:
        lb.set_states(view, {**dict.fromkeys(kept, "ready"), **dict.fromkeys(serving, "drain")})
        state.active = kept
        slots.save()
        threads = [threading.Thread(target=slots.retire, args=(n,), kwargs={"drain_s": 0.0}) for n in serving]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    for name in slots.strays():
        slots.discard(name)
    lb.set_states(view, dict.fromkeys(state.chat_names(), "ready"))
    state.deploying = False
    state.deployer = None
    slots.save()


def _kept_set(view: StackView, slots: Slots, serving: list[str]) -> list[str]:
    """The previous release's set a blue-green deploy kept for a switch back, if it is complete and ready."""
    state = view.state
    previous = state.previous_release
    if all(state.replica_releases.get(n) == previous for n in serving):
        return []  # the serving set runs the previous release (interrupted before the switch): nothing to switch
    kept = [n for n in slots.strays() if state.replica_releases.get(n) == previous]
    ready = [n for n in kept if view.chat_release(n) == previous and probes.http_ok(_readyz(view, n))]
    return kept if len(kept) == len(serving) == len(ready) else []


def _readyz(view: StackView, name: str) -> str:
    return f"http://127.0.0.1:{view.state.ports[name]}/readyz"
