"""How extension functions (faults, probes, controls) find their target and the run's files.

An experiment's ``configuration`` names the target (``target: local``, ``state_dir: ...``); when it does
not, ``$RESILIENCE_TARGET`` and ``$RESILIENCE_STATE_DIR`` do, so ``chaos run experiments/X.yaml`` works
on its own against a running local stack. The game-day runner adds the run's folders under the keys
below before it runs an experiment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resilience.errors import ConfigError
from resilience.targets.base import Target

__all__ = [
    "EVENTS_DIR",
    "LEDGER_DIR",
    "LOAD_MANAGED",
    "OUT_DIR",
    "SAFEGUARDS",
    "SLO",
    "config_path",
    "remember_target",
    "target_from",
]

OUT_DIR = "resilience_out_dir"
"""Folder of this experiment's outputs (faults.jsonl, markers.jsonl)."""
EVENTS_DIR = "resilience_events_dir"
"""Folder of the load's raw events (read by the SLO probes and the safeguards)."""
LEDGER_DIR = "resilience_ledger_dir"
"""Folder of the load's acknowledged-message ledger (read by the integrity probe)."""
LOAD_MANAGED = "resilience_load_managed"
"""Set by the runner: the load runs across experiments, the load control must not start its own."""
SAFEGUARDS = "resilience_safeguards"
"""The scenario's hard limits (``error_rate``, ``for_s``) for the safeguards control."""
SLO = "resilience_slo"
"""The scenario's SLO for this experiment (a mapping of ``resilience.scenario.Slo`` fields)."""

_targets: dict[tuple[str, str | None], Target] = {}
_lock = threading.Lock()


def _setting(configuration: Mapping[str, Any] | None, key: str, env: str) -> str | None:
    value = (configuration or {}).get(key)
    if value in (None, ""):
        value = os.environ.get(env)
    return str(value) if value not in (None, "") else None


def _key(configuration: Mapping[str, Any] | None) -> tuple[str, str | None]:
    name = _setting(configuration, "target", "RESILIENCE_TARGET") or "local"
    return name, _setting(configuration, "state_dir", "RESILIENCE_STATE_DIR")


def remember_target(configuration: Mapping[str, Any] | None, target: Target) -> None:
    """Make ``target_from(configuration)`` return ``target`` (the runner shares its Target object)."""
    with _lock:
        _targets[_key(configuration)] = target


def target_from(configuration: Mapping[str, Any] | None) -> Target:
    """The target the experiment names (``target``/``state_dir``, else the environment; default local).

    One Target object per (name, state dir) per process, so faults, probes and controls share it.
    """
    from resilience.targets import get_target

    key = _key(configuration)
    name, state_dir = key
    with _lock:
        if key not in _targets:
            options: dict[str, Any] = {"state_dir": Path(state_dir)} if state_dir else {}
            _targets[key] = get_target(name, **options)
        return _targets[key]


def config_path(configuration: Mapping[str, Any] | None, key: str, *, required: bool = True) -> Path | None:
    """A folder the runner or the load control put in the configuration under ``key``."""
    value = (configuration or {}).get(key)
    if value in (None, ""):
        if required:
            raise ConfigError(
                f"configuration has no {key!r}: is the load running (controls: resilience.controls.load)?"
            )
        return None
    return Path(str(value))
