"""Latency before, during and after a fault: box plots of the per-interval p50, p95 and p99.

The timeline holds percentiles per interval (not single requests), so each box shows how the interval
percentile was spread over the phase: the middle line is the typical interval, whiskers the 5th and
95th percentile of intervals. The p95 SLO is drawn as a dashed line.
"""

from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from resilience.report.charts.style import COLORS, floor_zero, log_y, new_figure, style_axes, wide_range
from resilience.report.model import Experiment
from resilience.report.series import PHASES, FloatArray, Series, split_phases

__all__ = ["latency_figure", "phase_medians"]

PERCENTILES = ("p50", "p95", "p99")


def _window(exp: Experiment) -> tuple[float | None, float | None]:
    return exp.impact_window or (None, None)


def latency_figure(exp: Experiment, series: Series) -> Figure:
    """Grouped box plots: phases on the x axis, one box per percentile within each phase."""
    fig = new_figure(9.0, 4.8)
    ax = fig.subplots()
    width = 0.24
    drawn: list[FloatArray] = []
    for j, pct in enumerate(PERCENTILES):
        parts = split_phases(series, f"{pct}_ms", *_window(exp))
        for i, phase in enumerate(PHASES):
            values = parts[phase]
            if values.size == 0:
                continue
            drawn.append(values)
            box = ax.boxplot(
                values,
                positions=[i + (j - 1) * width * 1.15],
                widths=width,
                whis=(5, 95),
                showfliers=False,
                patch_artist=True,
                medianprops={"color": "black"},
            )
            box["boxes"][0].set(facecolor=COLORS[pct], alpha=0.75)
    counts = {p: split_phases(series, "p95_ms", *_window(exp))[p].size for p in PHASES}
    words = exp.phase_labels()
    ax.set_xticks(range(len(PHASES)), [f"{words[p]}\n({counts[p]} intervals)" for p in PHASES])
    ax.set_xlim(-0.6, len(PHASES) - 0.4)
    if exp.slo.p95_ms is not None:
        ax.axhline(exp.slo.p95_ms, color=COLORS["p95"], ls="--", lw=1.1)
    if drawn and wide_range(*drawn):
        log_y(ax)
    elif drawn:
        floor_zero(ax)
    else:
        ax.text(0.5, 0.5, "no latency data", transform=ax.transAxes, ha="center", va="center", color="#777")
    ax.set_ylabel("latency per interval (ms)")
    ax.set_title(f"{exp.name}: latency per interval around the fault", fontsize=12, fontweight="bold")
    style_axes(ax)
    ax.grid(axis="x", visible=False)
    handles: list[Artist] = [Patch(color=COLORS[p], alpha=0.75, label=p) for p in PERCENTILES]
    if exp.slo.p95_ms is not None:
        handles.append(ax.plot([], [], color=COLORS["p95"], ls="--", label=f"SLO p95 < {exp.slo.p95_ms:g} ms")[0])
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def phase_medians(exp: Experiment, series: Series, column: str = "p95_ms") -> dict[str, float | None]:
    """Median of ``column`` per phase (None for an empty phase): the figures the boxes are centred on."""
    parts = split_phases(series, column, *_window(exp))
    return {p: float(np.median(v)) if v.size else None for p, v in parts.items()}
