"""The capacity section of report.html, fed by ``capacity.json`` in the run folder.

A ``capacity.json`` in the ``resilience.capacity/1`` format gets the capacity charts
(``resilience.report.charts.capacity``) and a facts table per condition: knee with its confidence
interval, headroom against the target users, how each ladder stopped. Any other capacity.json is shown
as its flattened figures, with a note saying why it could not be read as a capacity run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resilience.capacity.result import CapacityResult, ConditionResult, read_capacity
from resilience.errors import ConfigError
from resilience.report.charts.capacity import save_capacity_charts
from resilience.report.sections import Section
from resilience.report.text import flatten

__all__ = ["capacity_facts", "capacity_section"]

_ABOUT = (
    "The knee is the most users at which the SLO still holds, from a monotone fit of each step's SLO ratio "
    "(so one noisy step does not end capacity); a ladder stops once a step clearly breaks the SLO. "
    "Intervals are two-sided Student-t intervals over the repeats; '>=' marks a lower bound (no step failed)."
)


def _knee_text(cond: ConditionResult) -> str:
    knee = cond.knee
    if knee is None:
        return "not measured"
    if knee.below_range:
        return f"below the lowest step ({cond.repeats[0].steps[0].users:,} users)"
    text = f"{'>= ' if knee.censored else ''}{knee.users:,.0f} users"
    if knee.ci_low is not None and knee.ci_high is not None:
        text += f" [{knee.ci_low:,.0f}-{knee.ci_high:,.0f}, {knee.confidence:.0%} {knee.method}, n={knee.n}]"
    else:
        text += f" (n={knee.n}, no interval)"
    return text


def _ladder_text(plan: Mapping[str, Any]) -> str:
    steps = [int(u) for u in plan.get("steps", [])]
    parts = [f"{steps[0]:,}-{steps[-1]:,} users in {len(steps)} steps" if steps else "no steps"]
    for key, fmt in (("hold_s", "hold {:g} s"), ("repeats", "{} repeat(s)"), ("budget_s", "budget {:g} s")):
        if plan.get(key) is not None:
            parts.append(fmt.format(plan[key]))
    return ", ".join(parts)


def capacity_facts(result: CapacityResult) -> tuple[tuple[str, str], ...]:
    """(label, value) rows for a ``CapacityResult``: the run, then knee and headroom per condition."""
    slo = ", ".join(f"{k} {v:g}" for k, v in result.slo.items() if v is not None)
    facts: list[tuple[str, str]] = [
        ("status", result.status),
        ("target users", f"{result.target_users:,}"),
        ("SLO", slo),
        ("ladder", _ladder_text(result.plan)),
    ]
    for cond in result.conditions:
        facts.append((f"{cond.name}: knee", _knee_text(cond)))
        if cond.headroom is not None:
            room = cond.headroom
            verdict = "meets" if room.meets else "short of"
            facts.append(
                (f"{cond.name}: headroom", f"{room.users:+,.0f} users ({room.ratio:.1%} of target; {verdict} it)")
            )
        stops = ", ".join(f"r{r.repeat}: {r.stop_reason or 'ladder done'}" for r in cond.repeats)
        facts.append((f"{cond.name}: stopped", stops or "-"))
    return tuple(facts)


def _generic(path: Path, reason: str) -> Section:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top, got {type(data).__name__}")
    return Section(
        id="capacity",
        title="Capacity",
        text=(f"Figures from capacity.json ({reason}).",),
        facts=tuple(flatten(data)),
    )


def capacity_section(run_dir: Path, charts_dir: Path) -> Section | None:
    """A "Capacity" section when ``run_dir/capacity.json`` exists, else None; draws charts/capacity-*.png."""
    path = run_dir / "capacity.json"
    if not path.is_file():
        return None
    try:
        result = read_capacity(path)
    except ConfigError as exc:
        return _generic(path, f"not a resilience capacity run: {exc}")
    drawn = save_capacity_charts(result, charts_dir)
    return Section(id="capacity", title="Capacity", text=(_ABOUT,), facts=capacity_facts(result), charts=tuple(drawn))
