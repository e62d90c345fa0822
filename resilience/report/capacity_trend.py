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

from resilience.capacity.result import CAPACITY_FILE, CapacityResult, KneeSummary, read_capacity
from resilience.errors import ConfigError
from resilience.report.compare import Change, Status
from resilience.report.model import Run

__all__ = ["capacity_changes", "capacity_trend_figure", "capacity_trend_markdown"]

_METRIC = "capacity knee (users)"
_PALETTE = ("#1f77b4", "#d62728", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b", "#17becf")


def _read(run: Run) -> CapacityResult | None:
    path = run.path / CAPACITY_FILE
    return read_capacity(path) if path.is_file() else None


def _words(knee: KneeSummary | None) -> str:
    if knee is None:
        return "not measured"
    if knee.below_range:
        return "below lowest step"
    text = f"{'>=' if knee.censored else ''}{knee.users:,.0f}"
    if knee.ci_low is not None and knee.ci_high is not None and knee.ci_high > knee.ci_low:
        text += f" [{knee.ci_low:,.0f}-{knee.ci_high:,.0f}]"
    return text


def _bounds(knee: KneeSummary) -> tuple[float, float]:
    low = knee.ci_low if knee.ci_low is not None else knee.users
    high = knee.ci_high if knee.ci_high is not None else knee.users
    return low, high


def knee_status(before: KneeSummary, after: KneeSummary, relative: float) -> Status:
    """regressed / improved / unchanged for two knees (see the module docstring)."""
    (lo_a, hi_a), (lo_b, hi_b) = _bounds(before), _bounds(after)
    overlap = lo_b <= hi_a and lo_a <= hi_b
    if after.users < before.users * (1 - relative) and not overlap:
        return "regressed"
    if after.users > before.users * (1 + relative) and not overlap:
        return "improved"
    return "unchanged"


def capacity_changes(a: Run, b: Run, *, relative: float = 0.10) -> list[Change]:
    """The knee of every condition of run ``a`` against run ``b`` (nothing when neither has capacity.json)."""
    try:
        before, after = _read(a), _read(b)
    except ConfigError as exc:
        return [Change("capacity", _METRIC, "?", "?", "not comparable", str(exc))]
    if before is None and after is None:
        return []
    if before is None or after is None:
        missing = a.run_id if before is None else b.run_id
        return [Change("capacity", _METRIC, "", "", "not comparable", f"no {CAPACITY_FILE} in {missing}")]
    changes = []
    for cond in before.conditions:
        other = next((c for c in after.conditions if c.name == cond.name), None)
        name = f"capacity:{cond.name}"
        if other is None or cond.knee is None or other.knee is None:
            note = f"not measured in {b.run_id if other is None or other.knee is None else a.run_id}"
            changes.append(
                Change(name, _METRIC, _words(cond.knee), _words(other.knee if other else None), "not comparable", note)
            )
            continue
        note = "lower bound (no step failed)" if cond.knee.censored or other.knee.censored else ""
        status = knee_status(cond.knee, other.knee, relative)
        changes.append(Change(name, _METRIC, _words(cond.knee), _words(other.knee), status, note))
    return changes


def _capacity_runs(runs: Sequence[Run]) -> list[tuple[Run, CapacityResult]]:
    found = []
    for run in runs:
        try:
            result = _read(run)
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
        knees = {c.name: _words(c.knee) for c in result.conditions}
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
            low, high = _bounds(cond.knee)
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
