"""Latency distribution of single requests before, during and after a fault (from the raw load events).

"During" is the impact window: from the fault start until recovery (or the fault's end when that is later
or recovery never came); "after" is what follows it.

One cumulative curve per phase on a log latency axis: the height at x is the share of requests that
took at most x ms; the legend gives each phase's request count and p50 / p95 / p99. A dashed vertical
line marks the p95 SLO and a dotted horizontal one the 95 % level, so where a curve crosses the dotted
line left or right of the dashed one tells at a glance whether the phase met the p95 SLO.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from resilience.report.charts.style import COLORS, log_x, new_figure, style_axes
from resilience.report.events import RequestLatencies
from resilience.report.model import Experiment
from resilience.report.series import PHASES

__all__ = ["PhaseStats", "latency_distribution_figure", "phase_requests", "phase_stats"]

_PHASE_COLORS = {"before": "#1f77b4", "during": COLORS["fault"], "after": COLORS["recover"]}

PhaseStats = dict[str, tuple[int, float, float, float] | None]
"""Phase -> (requests, p50, p95, p99) in ms, or None for a phase without requests."""


def phase_requests(exp: Experiment, requests: RequestLatencies) -> dict[str, RequestLatencies]:
    """Requests split at the impact window (fault start until recovery: ``Experiment.impact_window``)."""
    if exp.impact_window is None:
        return {"before": requests, "during": requests.window(0, 0), "after": requests.window(0, 0)}
    start, end = exp.impact_window
    return {
        "before": requests.window(None, start),
        "during": requests.window(start, end),
        "after": requests.window(end, None),
    }


def phase_stats(parts: dict[str, RequestLatencies]) -> PhaseStats:
    """Count and p50/p95/p99 per phase."""
    stats: PhaseStats = {}
    for phase, part in parts.items():
        if len(part) == 0:
            stats[phase] = None
            continue
        p50, p95, p99 = (float(v) for v in np.percentile(part.latency_ms, [50, 95, 99]))
        stats[phase] = (len(part), p50, p95, p99)
    return stats


def latency_distribution_figure(exp: Experiment, requests: RequestLatencies) -> Figure:
    """Cumulative latency curves per phase (see the module docstring)."""
    fig = new_figure(9.5, 5.0)
    ax = fig.subplots()
    parts = phase_requests(exp, requests)
    stats = phase_stats(parts)
    words = exp.phase_labels()
    for phase in PHASES:
        figures = stats[phase]
        if figures is None:
            continue
        values = np.sort(parts[phase].latency_ms)
        share = np.arange(1, len(values) + 1) / len(values)
        n, p50, p95, p99 = figures
        label = f"{words[phase]}: {n:,} requests, p50 {p50:.0f} / p95 {p95:.0f} / p99 {p99:.0f} ms"
        ax.step(np.maximum(values, 0.01), share, where="post", color=_PHASE_COLORS[phase], lw=1.6, label=label)
    if exp.slo.p95_ms is not None:
        ax.axvline(exp.slo.p95_ms, color=COLORS["p95"], ls="--", lw=1.1, label=f"SLO p95 < {exp.slo.p95_ms:g} ms")
    ax.axhline(0.95, color="#555", ls=":", lw=1.0, label="95 % of requests")
    if any(s is not None for s in stats.values()):
        log_x(ax)
    else:
        ax.text(0.5, 0.5, "no successful requests recorded", transform=ax.transAxes, ha="center", va="center")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("request latency (ms)")
    ax.set_ylabel("requests at most this slow")
    ax.set_title(f"{exp.name}: request latency around the fault", fontsize=12, fontweight="bold")
    style_axes(ax)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, frameon=False, ncol=2)
    return fig
