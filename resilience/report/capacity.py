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

from resilience.capacity.result import CapacityResult, HeadroomSummary, condition_line, read_capacity
from resilience.errors import ConfigError
from resilience.report.charts.capacity import save_capacity_charts
from resilience.report.sections import Section
from resilience.report.text import flatten

__all__ = ["capacity_facts", "capacity_section"]

_ABOUT = (
    "The knee is the most users at which the SLO still holds, from a monotone fit of each step's SLO ratio "
    "(so one noisy step does not end capacity). The search grows the load geometrically until a step clearly "
    "breaks the SLO, then bisects to the plan's resolution. Intervals are two-sided Student-t intervals over "
    "the repeats that found a knee; a repeat that never failed is a lower bound ('>='), never averaged in. "
    "A condition with a failover inside every window breaks the SLO at any load by design: it is judged on "
    "its time to recover. Inconclusive steps (the load generator was saturated) are left out of the knee."
)


def _ladder_text(plan: Mapping[str, Any]) -> str:
    search = plan.get("search")
    steps = [int(u) for u in plan.get("steps") or []]
    if search:
        first = (
            f"search from {search['start']:,} users x{search['factor']:g} (at most {search['max']:,}), "
            f"bisected to {search['resolution']:.0%}"
        )
    else:
        first = f"{steps[0]:,}-{steps[-1]:,} users in {len(steps)} steps" if steps else "no steps"
    parts = [first]
    for key, fmt in (("hold_s", "hold {:g} s"), ("repeats", "{} repeat(s)"), ("budget_s", "budget {:g} s")):
        if plan.get(key) is not None:
            parts.append(fmt.format(plan[key]))
    return ", ".join(parts)


def _headroom_text(room: HeadroomSummary) -> str:
    if room.meets is None:
        return (
            f"unknown: the search stopped at {room.target_users + room.users:,.0f} users ({room.ratio:.1%} of "
            "target) before the SLO broke: a lower bound, not a ceiling"
        )
    bound = ">= " if room.bound == "lower" else ""
    verdict = "meets" if room.meets else "short of"
    return f"{bound}{room.users:+,.0f} users ({bound}{room.ratio:.1%} of target; {verdict} it)"


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
        facts.append((f"{cond.name}: knee", condition_line(cond)))
        if cond.headroom is not None:
            facts.append((f"{cond.name}: headroom", _headroom_text(cond.headroom)))
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
