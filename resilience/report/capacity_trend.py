"""Capacity across runs: knee changes for ``resilience compare`` and knees over time for ``resilience trend``.

Both read ``capacity.json`` from the run folders (``Run.path``); runs without one are left out.
A knee counts as regressed (improved) when it fell (rose) by more than ``relative`` of the earlier knee
*and* the two confidence intervals do not overlap (when both runs have one): a 10 % drop inside the
noise of the repeats is not a regression.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from resilience.capacity.result import CapacityResult
from resilience.errors import ConfigError
from resilience.report.compare import knee_bounds, knee_words, read_capacity_of
from resilience.report.model import Run

__all__ = ["capacity_trend_figure", "capacity_trend_markdown"]

_PALETTE = ("#1f77b4", "#d62728", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b", "#17becf")


def _capacity_runs(runs: Sequence[Run]) -> list[tuple[Run, CapacityResult]]:
    found = []
    for run in runs:
        try:
            result = read_capacity_of(run)
        except ConfigError:
            continue
        if result is not None:
            found.append((run, result))
    return found


def capacity_trend_markdown(runs: Sequence[Run]) -> str:
    """A table of knees per condition, newest run first ("" when no run has capacity.json)."""
    found = _capacity_runs(runs)
    if not found:
        return ""
    names: list[str] = []
    for _, result in found:
        names.extend(c.name for c in result.conditions if c.name not in names)
    lines = [f"## Capacity trend ({len(found)} runs, knee in users)", ""]
    lines += ["| Run | Status | " + " | ".join(names) + " |", "|---" * (2 + len(names)) + "|"]
    for run, result in reversed(found):
        knees = {c.name: knee_words(c.knee) for c in result.conditions}
        lines.append(f"| {run.run_id} | {result.status} | " + " | ".join(knees.get(n, "—") for n in names) + " |")
    return "\n".join([*lines, ""]) + "\n"


def _label(run: Run) -> str:
    if run.started is None:
        return run.run_id[:16]
    return dt.datetime.fromtimestamp(run.started, tz=dt.UTC).strftime("%m-%d %H:%M")


def capacity_trend_figure(runs: Sequence[Run]) -> Figure | None:
    """Knee per condition over runs (oldest left) with confidence intervals; None without capacity runs."""
    found = _capacity_runs(runs)
    if not found:
        return None
    fig = Figure(figsize=(10, 4.5), dpi=110, layout="constrained")
    ax = fig.subplots()
    names: list[str] = []
    for _, result in found:
        names.extend(c.name for c in result.conditions if c.name not in names)
    for i, name in enumerate(names):
        xs: list[float] = []
        ys: list[float] = []
        errs: list[list[float]] = [[], []]
        for x, (_, result) in enumerate(found):
            cond = next((c for c in result.conditions if c.name == name), None)
            if cond is None or cond.knee is None:
                continue
            low, high = knee_bounds(cond.knee)
            xs.append(x + (i - len(names) / 2) * 0.06)
            ys.append(cond.knee.users)
            errs[0].append(cond.knee.users - low)
            errs[1].append(high - cond.knee.users)
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, color=_PALETTE[i % len(_PALETTE)], label=name)
    ax.set_xticks(range(len(found)), [_label(run) for run, _ in found], rotation=30, ha="right")
    ax.set_ylabel("knee (users at SLO)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(f"Capacity trend: knee per condition over {len(found)} runs (bars: confidence intervals)")
    return fig
