"""The nightly view over many runs: recovery, peak p95, error rate and integrity per run, as one chart.

``load_runs`` reads every ``*/run.json`` below a results folder (a malformed one is skipped and named,
so one broken night does not hide the trend); ``trend_figure`` draws them oldest to newest.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator
from matplotlib.typing import ColorType

from resilience.capacity.result import CapacityResult
from resilience.errors import ConfigError
from resilience.report.charts.style import COLORS, PALETTE, VERDICT_COLORS, log_y, new_figure, style_axes, wide_range
from resilience.report.compare import knee_bounds, knee_words, read_capacity_of
from resilience.report.model import Experiment, Run, load_run
from resilience.report.text import fmt_epoch, fmt_s, recovery_word

__all__ = [
    "capacity_trend_figure",
    "capacity_trend_markdown",
    "load_runs",
    "recovery_spread",
    "spread_markdown",
    "trend_figure",
    "trend_markdown",
]

log = logging.getLogger(__name__)

_MAX_TICK_LABELS = 24


def load_runs(
    results_dir: Path, *, last: int | None = None, kinds: tuple[str, ...] | None = ("gameday",)
) -> tuple[list[Run], list[str]]:
    """Runs under ``results_dir`` oldest first (at most the ``last`` newest), and one note per unreadable folder.

    Only runs of the given ``kinds`` count (game days by default: load-only and capacity runs have no
    experiments to trend); None keeps every kind.
    """
    if not results_dir.is_dir():
        raise ConfigError(f"{results_dir}: not a directory (expected a results folder of runs)")
    runs, skipped = [], []
    for path in sorted(results_dir.glob("*/run.json")):
        try:
            runs.append(load_run(path.parent))
        except ConfigError as exc:
            log.debug("skipping %s: %s", path.parent.name, exc)
            skipped.append(str(exc))
    if kinds is not None:
        runs = [r for r in runs if r.kind in kinds]
    runs.sort(key=lambda r: (r.started if r.started is not None else float("inf"), r.run_id))
    if last is not None:
        runs = runs[-last:] if last > 0 else []
    return runs, skipped


def _names(runs: Sequence[Run]) -> list[str]:
    names: list[str] = []
    for run in runs:
        names.extend(e.name for e in run.experiments if e.name not in names)
    return names


def _label(run: Run) -> str:
    if run.started is None:
        return run.run_id[:16]
    return dt.datetime.fromtimestamp(run.started, tz=dt.UTC).strftime("%m-%d %H:%M")


def _series(runs: Sequence[Run], name: str, get: Callable[[Experiment], float | None]) -> np.ndarray:
    values = []
    for run in runs:
        exp = next((e for e in run.experiments if e.name == name), None)
        value = get(exp) if exp is not None else None
        values.append(np.nan if value is None else value)
    return np.asarray(values, dtype=float)


def _recovery_panel(ax: Axes, runs: Sequence[Run], colors: Mapping[str, ColorType]) -> None:
    x = np.arange(len(runs))
    for name, color in colors.items():
        ax.plot(x, _series(runs, name, lambda e: e.recovery_s), marker="o", ms=4, color=color, label=name)
        target = _series(runs, name, lambda e: e.recovery_target_s)
        ax.plot(x, target, ls=":", color=color, lw=1.2, drawstyle="steps-mid")
        late = _series(runs, name, lambda e: e.recovery_s if e.recovery_met is False else None)
        ax.plot(x, late, ls="none", marker="o", ms=9, mfc="none", mec=COLORS["bad"], mew=1.8)
        missing = _series(
            runs, name, lambda e: e.recovery_target_s if e.recovery_met is False and e.recovery_s is None else None
        )
        ax.plot(x, missing, ls="none", marker="^", ms=8, color=COLORS["bad"])
    ax.set_ylabel("recovery time (s)")
    ax.set_ylim(bottom=0)


def _metric_panel(
    ax: Axes,
    runs: Sequence[Run],
    colors: Mapping[str, ColorType],
    get: Callable[[Experiment], float | None],
    scale: float = 1.0,
) -> None:
    x = np.arange(len(runs))
    for name, color in colors.items():
        ax.plot(x, _series(runs, name, get) * scale, marker="o", ms=4, color=color)


def _integrity_panel(ax: Axes, runs: Sequence[Run]) -> None:
    x = np.arange(len(runs))
    bottom = np.zeros(len(runs))
    kinds = (("lost", COLORS["bad"]), ("duplicated", "#e67e22"), ("out_of_order", "#8e44ad"))
    for field, color in kinds:
        counts = np.asarray(
            [sum(getattr(e.integrity, field) or 0 for e in r.experiments if e.integrity) for r in runs], dtype=float
        )
        ax.bar(x, counts, bottom=bottom, color=color, width=0.6, label=field.replace("_", " "))
        bottom += counts
    ax.set_ylabel("integrity problems\n(messages)")
    ax.set_ylim(0, max(1.0, float(bottom.max()) * 1.25) if len(runs) else 1.0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _x_labels(ax: Axes, runs: Sequence[Run]) -> None:
    step = max(1, int(np.ceil(len(runs) / _MAX_TICK_LABELS)))
    ticks = list(range(0, len(runs), step))
    ax.set_xticks(ticks, [_label(runs[i]) for i in ticks], rotation=45, ha="right", fontsize=8)
    for tick, i in zip(ax.get_xticklabels(), ticks, strict=True):
        tick.set_color(VERDICT_COLORS.get(runs[i].verdict, "black"))
    ax.set_xlabel("run start (UTC); label colour = run verdict")


def trend_figure(runs: Sequence[Run]) -> Figure:
    """Four panels over runs (oldest left): recovery vs target, peak p95, error rate, integrity problems."""
    names = _names(runs)
    cmap = colormaps["tab10"]
    colors: dict[str, ColorType] = {n: cmap(i % 10) for i, n in enumerate(names)}
    fig = new_figure(12.0, 10.0)
    axes = list(fig.subplots(4, 1, sharex=True))
    _recovery_panel(axes[0], runs, colors)
    _metric_panel(axes[1], runs, colors, lambda e: e.peak_p95_ms)
    axes[1].set_ylabel("peak p95 (ms)")
    if wide_range([e.peak_p95_ms or np.nan for r in runs for e in r.experiments]):
        log_y(axes[1])
    _metric_panel(axes[2], runs, colors, lambda e: e.error_rate, scale=100.0)
    axes[2].set_ylabel("error rate (%)")
    axes[2].set_ylim(bottom=0)
    _integrity_panel(axes[3], runs)
    for ax in axes:
        style_axes(ax)
    handles = [Line2D([], [], color=colors[n], marker="o", ms=4, label=n) for n in names]
    handles += [
        Line2D([], [], color="#555", ls=":", label="recovery target"),
        Line2D([], [], ls="none", marker="o", ms=9, mfc="none", mec=COLORS["bad"], mew=1.8, label="target missed"),
        Line2D([], [], ls="none", marker="^", ms=8, color=COLORS["bad"], label="not recovered"),
    ]
    axes[0].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if runs:
        _x_labels(axes[3], runs)
        axes[3].set_xlim(-0.5, len(runs) - 0.5)
    else:
        axes[0].text(0.5, 0.5, "no runs found", transform=axes[0].transAxes, ha="center", va="center")
    passed = sum(r.verdict == "passed" for r in runs)
    fig.suptitle(f"Resilience trend: {len(runs)} runs, {passed} passed", fontsize=13, fontweight="bold")
    return fig


def recovery_spread(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Per experiment over ``runs``: how many ran and passed, and recovery min/median/max (s; None when none
    recovered), with the latest target. A verdict that differs between runs shows as passed < runs."""
    out = []
    for name in _names(runs):
        exps = [e for r in runs for e in r.experiments if e.name == name]
        times = sorted(e.recovery_s for e in exps if e.recovery_s is not None)
        out.append(
            {
                "name": name,
                "runs": len(exps),
                "passed": sum(e.verdict == "passed" for e in exps),
                "min_s": times[0] if times else None,
                "median_s": statistics.median(times) if times else None,
                "max_s": times[-1] if times else None,
                "target_s": exps[-1].recovery_target_s,
            }
        )
    return out


def spread_markdown(runs: Sequence[Run]) -> str:
    """The recovery spread as a table: passed of runs, min / median / max recovery against the target."""
    rows = recovery_spread(runs)
    if not rows:
        return ""
    lines = [
        f"## Recovery spread ({len(runs)} runs)",
        "",
        "| Experiment | Passed | Recovery min | median | max | Target |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        flip = " (verdict flipped)" if 0 < r["passed"] < r["runs"] else ""
        lines.append(
            f"| {r['name']} | {r['passed']} of {r['runs']}{flip} | {fmt_s(r['min_s'])} | {fmt_s(r['median_s'])} | "
            f"{fmt_s(r['max_s'])} | {fmt_s(r['target_s'])} |"
        )
    return "\n".join([*lines, ""]) + "\n"


def trend_markdown(runs: Sequence[Run], skipped: Sequence[str] = ()) -> str:
    """A table of runs, newest first: start, verdict and each experiment's recovery against its target."""
    names = _names(runs)
    lines = [f"## Resilience trend ({len(runs)} runs)", ""]
    if runs:
        lines += ["| Run | Started | Verdict | " + " | ".join(names) + " |", "|---" * (3 + len(names)) + "|"]
        for run in reversed(runs):
            by_name = {e.name: e for e in run.experiments}
            cells = [recovery_word(by_name[n]) if n in by_name else "—" for n in names]
            lines.append(f"| {run.run_id} | {fmt_epoch(run.started)} | {run.verdict} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(spread_markdown(runs))
    if skipped:
        lines += ["Skipped (unreadable run.json):", "", *[f"- {s}" for s in skipped], ""]
    return "\n".join(lines) + "\n"


# -- capacity knees over time (capacity.json of each run) ------------------------------------------


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
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, color=PALETTE[i % len(PALETTE)], label=name)
    ax.set_xticks(range(len(found)), [_label(run) for run, _ in found], rotation=30, ha="right")
    ax.set_ylabel("knee (users at SLO)")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(f"Capacity trend: knee per condition over {len(found)} runs (bars: confidence intervals)")
    return fig
