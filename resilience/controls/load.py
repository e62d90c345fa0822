"""Load control: Locust runs, as its own process, all the time the experiment runs.

Started in ``configure_control`` (before the steady-state hypothesis), kept through the rollbacks, stopped
in ``cleanup_control``. Under the game-day runner the load spans every experiment of the scenario
(``resilience_load_managed`` in the configuration) and this control does nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from resilience.context import EVENTS_DIR, LEDGER_DIR, OUT_DIR, PROCESS, RunContext
from resilience.errors import TargetError
from resilience.load import LoadParams, start_load
from resilience.safety.redact import register_secrets
from resilience.targets.base import Target

__all__ = ["cleanup_control", "configure_control", "start_target_load"]

log = logging.getLogger(__name__)


def start_target_load(target: Target, params: Mapping[str, Any], out_dir: Path, *, workers: int = 0) -> Any:
    """Start Locust against ``target``'s chat endpoint with ``params`` (LoadParams fields); the LoadProcess.

    The load runs until stopped unless ``params`` give a ``duration_s``.
    """
    secret_of = getattr(target, "issuer_secret", None)
    if secret_of is None:
        raise TargetError(f"target {target.name} cannot issue tokens for the load (no issuer_secret())")
    load_params = LoadParams(**{"duration_s": None, **params})
    secret = secret_of()
    register_secrets([secret])
    return start_load(target.endpoints().chat, secret, load_params, out_dir, workers=workers)


def configure_control(
    configuration: MutableMapping[str, Any] | None = None,
    experiment: Mapping[str, Any] | None = None,
    warmup_s: float = 5.0,
    workers: int = 0,
    out_dir: str | None = None,
    **params: Any,
) -> None:
    """Start the load (unless the runner manages it) and wait ``warmup_s`` for a baseline."""
    context = RunContext.of(configuration)
    if configuration is None or context.load_managed:
        return
    target = context.target
    folder = Path(out_dir or context.out_dir or f"results/chaos-{time.strftime('%Y%m%dT%H%M%S')}")
    folder.mkdir(parents=True, exist_ok=True)
    process = start_target_load(target, params, folder / "load", workers=workers)
    PROCESS.keep("load", process)
    configuration[EVENTS_DIR] = str(process.events_dir)
    configuration[LEDGER_DIR] = str(process.ledger_dir)
    configuration.setdefault(OUT_DIR, str(folder))
    log.info("load started (%s); warming up %.1f s", folder, warmup_s)
    time.sleep(warmup_s)


def cleanup_control(**_: Any) -> None:
    """Stop the load this control started (after the rollbacks)."""
    for process in PROCESS.release("load"):
        process.stop()
