"""Server-side objectives of a scenario's SLO (``slo.promql``): PromQL queries judged by the runner.

run start ──► check every query once against the target's Prometheus: unreachable, rejected or
              several series is one line (ProbeError / ConfigError) and the run stops before any fault
each experiment ──► its value just before the fault and at the experiment's end (instant queries at
              those times) ──► run.json ``server_slo`` and, when one does not hold, a verdict reason
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from resilience.errors import ConfigError, ProbeError
from resilience.probes.prometheus import query_value
from resilience.slo import ServerObjective, Slo

__all__ = ["check_server_slo", "judge_server_slo"]

_WHEN = {"before": "just before the fault", "after": "at the end of the experiment"}


def check_server_slo(slos: Iterable[Slo], prometheus: str | None, *, where: str) -> None:
    """Run each query of ``slos`` (the experiments' SLOs) once now: a bad query (rejected, several series)
    is a ConfigError naming ``where`` (the scenario file), the objective and Prometheus' words; an
    unreachable Prometheus a ProbeError. No series is fine here (the load may not have started)."""
    objectives = list(dict.fromkeys(obj for slo in slos for obj in slo.promql))
    if not objectives:
        return
    if not prometheus:
        raise ConfigError(f"{where}: slo.promql: the target has no Prometheus to judge server-side objectives")
    for i, obj in enumerate(objectives):
        try:
            query_value(obj.query, url=prometheus, empty=math.nan)
        except ProbeError as exc:
            if "unreachable" in str(exc) or "without JSON" in str(exc):
                raise
            raise ConfigError(f"{where}: slo.promql[{i}] ({obj.name}): {exc}") from None


def _judge(obj: ServerObjective, prometheus: str, at: float) -> tuple[float | None, bool, str | None]:
    try:
        value = query_value(obj.query, url=prometheus, empty=obj.empty, at=at)
    except ProbeError as exc:
        return None, False, str(exc)
    held = obj.holds(value)
    return value, held, None


def judge_server_slo(
    slo: Slo, prometheus: str | None, *, before: float | None, after: float
) -> tuple[list[dict[str, Any]], list[str]]:
    """run.json's ``server_slo`` entries and the verdict reasons for the objectives that did not hold
    at ``before`` (just before the fault; None: no fault) or ``after`` (the experiment's end)."""
    if not slo.promql or not prometheus:
        return [], []
    entries, reasons = [], []
    for obj in slo.promql:
        entry: dict[str, Any] = {"name": obj.name, "query": obj.query, "op": obj.op, "value": obj.value}
        for when, at in (("before", before), ("after", after)):
            if at is None:
                entry[when] = None
                continue
            got, held, error = _judge(obj, prometheus, at)
            entry[when] = {"value": None if got is None or math.isnan(got) else got, "held": held, "error": error}
            if not held:
                why = error or f"{got:.4g}, not {obj.op} {obj.value:g}"
                reasons.append(f"server SLO {obj.name} did not hold {_WHEN[when]}: {why}")
        entries.append(entry)
    return entries, reasons
