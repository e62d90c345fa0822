"""Timeline control: hypothesis, method, rollback and activity events on the run clock.

Appends one JSON line per event to ``markers.jsonl`` in the experiment's output folder, so charts and the
runner place fault windows and hypothesis results on the same epoch-seconds axis as the load timeline.
Without an output folder (a bare ``chaos run`` without the load control) it records nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from resilience.context import RunContext

__all__ = [
    "after_activity_control",
    "after_hypothesis_control",
    "after_method_control",
    "after_rollback_control",
    "before_activity_control",
    "before_hypothesis_control",
    "before_method_control",
    "before_rollback_control",
]


def _mark(configuration: Mapping[str, Any] | None, event: str, **fields: Any) -> None:
    out = RunContext.of(configuration).out_dir
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    record = {"t": time.time(), "event": event, **fields}
    with (out / "markers.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str) + "\n")


def before_hypothesis_control(context: Any, configuration: Mapping[str, Any] | None = None, **_: Any) -> None:
    _mark(configuration, "hypothesis-start")


def after_hypothesis_control(
    context: Any, state: Any = None, configuration: Mapping[str, Any] | None = None, **_: Any
) -> None:
    met = state.get("steady_state_met") if isinstance(state, Mapping) else None
    _mark(configuration, "hypothesis-end", met=met)


def before_method_control(context: Any, configuration: Mapping[str, Any] | None = None, **_: Any) -> None:
    _mark(configuration, "method-start")


def after_method_control(context: Any, configuration: Mapping[str, Any] | None = None, **_: Any) -> None:
    _mark(configuration, "method-end")


def before_rollback_control(context: Any, configuration: Mapping[str, Any] | None = None, **_: Any) -> None:
    _mark(configuration, "rollbacks-start")


def after_rollback_control(context: Any, configuration: Mapping[str, Any] | None = None, **_: Any) -> None:
    _mark(configuration, "rollbacks-end")


def before_activity_control(context: Any, configuration: Mapping[str, Any] | None = None, **_: Any) -> None:
    name = context.get("name") if isinstance(context, Mapping) else None
    kind = context.get("type") if isinstance(context, Mapping) else None
    _mark(configuration, "activity-start", name=name, type=kind)


def after_activity_control(
    context: Any, state: Any = None, configuration: Mapping[str, Any] | None = None, **_: Any
) -> None:
    name = context.get("name") if isinstance(context, Mapping) else None
    status = state.get("status") if isinstance(state, Mapping) else None
    _mark(configuration, "activity-end", name=name, status=status)
