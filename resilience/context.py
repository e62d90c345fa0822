"""The run context: what every fault, probe and control of one experiment shares.

Chaos Toolkit calls extension functions one by one and hands each the experiment's ``configuration`` (a
plain mapping), so that mapping is the wire between the runner and the providers. This module owns it:
the keys, what each means, and ``RunContext``, the typed view every provider reads it through::

    runner ──RunContext(...).to_configuration()──► configuration ──RunContext.of(configuration)──► faults,
                                                                                       probes, controls

An experiment's ``configuration`` names the target (``target: local``, ``state_dir: ...``); when it does
not, ``$RESILIENCE_TARGET`` and ``$RESILIENCE_STATE_DIR`` do, so ``chaos run experiments/X.yaml`` works on
its own against a running local stack. The game-day runner adds the run's folders before each experiment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from resilience.errors import ConfigError
from resilience.targets import get_target
from resilience.targets.base import Target

__all__ = [
    "EVENTS_DIR",
    "LEDGER_DIR",
    "LOAD_MANAGED",
    "OUT_DIR",
    "PROCESS",
    "SAFEGUARDS",
    "SLO",
    "ProcessState",
    "RunContext",
    "Stoppable",
    "share_target",
]

OUT_DIR = "resilience_out_dir"
"""Configuration key: folder of this experiment's outputs (faults.jsonl, markers.jsonl)."""
EVENTS_DIR = "resilience_events_dir"
"""Configuration key: folder of the load's raw events (read by the SLO probes and the safeguards)."""
LEDGER_DIR = "resilience_ledger_dir"
"""Configuration key: folder of the load's acknowledged-message ledger (read by the integrity probe)."""
LOAD_MANAGED = "resilience_load_managed"
"""Configuration key: the load runs across experiments (the runner's); the load control starts none."""
SAFEGUARDS = "resilience_safeguards"
"""Configuration key: the scenario's hard limits (``error_rate``, ``for_s``) for the safeguards control."""
SLO = "resilience_slo"
"""Configuration key: the scenario's SLO for this experiment (a mapping of ``resilience.scenario.Slo`` fields)."""

_FOLDERS = {"out_dir": OUT_DIR, "events_dir": EVENTS_DIR, "ledger_dir": LEDGER_DIR}


class Stoppable(Protocol):
    """Something a control started and must stop (a load process, a watcher thread)."""

    def stop(self) -> object: ...


@dataclass
class ProcessState:
    """What this process keeps between Chaos Toolkit's calls, in one public place.

    Chaos Toolkit calls extension functions one by one, so what one call starts and a later one stops
    cannot live in an argument; it lives here (and nowhere else), each attribute documented.
    """

    targets: dict[tuple[str, str | None], Target] = field(default_factory=dict)
    """One Target object per (name, state dir), shared by faults, probes and controls."""
    started: dict[str, list[Stoppable]] = field(default_factory=dict)
    """What each control started (``load``: Locust processes, ``safeguards``: watcher threads), by control."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keep(self, control: str, thing: Stoppable) -> None:
        """Remember ``thing`` as started by ``control``."""
        with self.lock:
            self.started.setdefault(control, []).append(thing)

    def running(self, control: str) -> list[Stoppable]:
        """What ``control`` started and has not released yet."""
        with self.lock:
            return list(self.started.get(control, []))

    def release(self, control: str) -> list[Stoppable]:
        """Forget and return what ``control`` started (newest first), for it to stop."""
        with self.lock:
            return list(reversed(self.started.pop(control, [])))


PROCESS = ProcessState()
"""This process's state (see ``ProcessState``)."""


def _setting(configuration: Mapping[str, Any], key: str, env: str) -> str | None:
    value = configuration.get(key)
    if value in (None, ""):
        value = os.environ.get(env)
    return str(value) if value not in (None, "") else None


def _path(configuration: Mapping[str, Any], key: str) -> Path | None:
    value = configuration.get(key)
    return None if value in (None, "") else Path(str(value))


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """The typed view of one experiment's configuration (every attribute optional outside a game day)."""

    target_name: str = "local"
    """Which target the faults land on (``local``, ``kind``, ``staging``)."""
    state_dir: Path | None = None
    """The target's state directory (None: the target's default)."""
    out_dir: Path | None = None
    """This experiment's output folder (faults.jsonl, markers.jsonl); None: faults are not recorded to disk."""
    events_dir: Path | None = None
    """The load's raw events folder; None until a load runs."""
    ledger_dir: Path | None = None
    """The load's acknowledged-message ledger folder; None until a load runs."""
    load_managed: bool = False
    """True under the game-day runner: one load spans every experiment and the load control starts none."""
    slo: Mapping[str, Any] = field(default_factory=dict)
    """The scenario's SLO for this experiment (``resilience.scenario.Slo`` fields; empty: defaults)."""
    safeguards: Mapping[str, Any] = field(default_factory=dict)
    """The scenario's hard limits for the safeguards control (``error_rate``, ``for_s``)."""

    @classmethod
    def of(cls, configuration: Mapping[str, Any] | None) -> RunContext:
        """Read the context from an experiment's ``configuration`` (the environment fills target/state dir)."""
        config = configuration or {}
        state_dir = _setting(config, "state_dir", "RESILIENCE_STATE_DIR")
        return cls(
            target_name=_setting(config, "target", "RESILIENCE_TARGET") or "local",
            state_dir=Path(state_dir) if state_dir else None,
            out_dir=_path(config, OUT_DIR),
            events_dir=_path(config, EVENTS_DIR),
            ledger_dir=_path(config, LEDGER_DIR),
            load_managed=bool(config.get(LOAD_MANAGED)),
            slo=dict(config.get(SLO) or {}),
            safeguards=dict(config.get(SAFEGUARDS) or {}),
        )

    def to_configuration(self) -> dict[str, Any]:
        """The configuration entries this context stands for (the runner merges them into each experiment's)."""
        out: dict[str, Any] = {"target": self.target_name}
        if self.state_dir is not None:
            out["state_dir"] = str(self.state_dir)
        for attr, key in _FOLDERS.items():
            if (value := getattr(self, attr)) is not None:
                out[key] = str(value)
        if self.load_managed:
            out[LOAD_MANAGED] = True
        if self.slo:
            out[SLO] = dict(self.slo)
        if self.safeguards:
            out[SAFEGUARDS] = dict(self.safeguards)
        return out

    def folder(self, name: str) -> Path:
        """The folder ``name`` (``events_dir``, ``ledger_dir``, ``out_dir``); a ConfigError when it is unset."""
        value = getattr(self, name)
        if value is None:
            raise ConfigError(
                f"configuration has no {_FOLDERS[name]!r}: is the load running (controls: resilience.controls.load)?"
            )
        return Path(value)

    @property
    def _target_key(self) -> tuple[str, str | None]:
        return self.target_name, str(self.state_dir) if self.state_dir else None

    @property
    def target(self) -> Target:
        """The target this context names: one object per (name, state dir) in this process."""
        key = self._target_key
        with PROCESS.lock:
            if key not in PROCESS.targets:
                options: dict[str, Any] = {"state_dir": self.state_dir} if self.state_dir else {}
                PROCESS.targets[key] = get_target(self.target_name, **options)
            return PROCESS.targets[key]


def share_target(context: RunContext, target: Target) -> None:
    """Make ``context.target`` (and every context naming the same target) return ``target``: the runner
    shares its Target object with the providers Chaos Toolkit calls."""
    with PROCESS.lock:
        PROCESS.targets[context._target_key] = target
