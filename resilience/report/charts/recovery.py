"""Recovery time against its target, one horizontal bar per experiment.

Green bar: recovered within target; red: recovered late; a hatched grey bar reaching the target: no
recovery was recorded (never recovered, or the run stopped first). The target is a black tick on each row.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from resilience.report.charts.style import COLORS, fmt_seconds, new_figure, style_axes
from resilience.report.model import Experiment

__all__ = ["recovery_figure"]


def _bar(exp: Experiment) -> tuple[float, str, str, str]:
    """(length, colour, hatch, label) of one experiment's bar."""
    target = exp.recovery_target_s
    if exp.recovery_s is None:
        length = target if target is not None else 0.0
        why = "not recovered" if exp.recovery_met is False else "not measured"
        return length, COLORS["unknown"], "//", why
    met = exp.recovery_met
    color = COLORS["ok"] if met is not False else COLORS["bad"]
    return exp.recovery_s, color, "", fmt_seconds(exp.recovery_s)


def recovery_figure(experiments: Sequence[Experiment]) -> Figure:
    """Bars of recovery time per experiment with each target marked; experiments top to bottom in run order."""
    rows = list(experiments)
    fig = new_figure(10.0, 1.2 + 0.55 * max(len(rows), 1))
    ax = fig.subplots()
    widest = 1.0
    for y, exp in enumerate(rows):
        length, color, hatch, label = _bar(exp)
        ax.barh(y, length, color=color, hatch=hatch, edgecolor="white" if not hatch else "#666", height=0.6)
        ax.text(length, y, f"  {label}", va="center", fontsize=9)
        if exp.recovery_target_s is not None:
            ax.plot([exp.recovery_target_s] * 2, [y - 0.38, y + 0.38], color="black", lw=2.2)
        if exp.detect_s is not None:
            ax.plot(exp.detect_s, y, marker="v", color=COLORS["detect"], ms=7, ls="none")
        widest = max(widest, length, exp.recovery_target_s or 0.0)
    ax.set_yticks(range(len(rows)), [e.name for e in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, widest * 1.25)
    ax.set_xlabel("seconds from fault start")
    ax.set_title("Recovery time vs target", fontsize=12, fontweight="bold")
    style_axes(ax)
    ax.grid(axis="y", visible=False)
    handles = [
        Patch(color=COLORS["ok"], label="recovered within target"),
        Patch(color=COLORS["bad"], label="recovered late"),
        Patch(facecolor=COLORS["unknown"], hatch="//", edgecolor="#666", label="no recovery recorded"),
        ax.plot([], [], color="black", lw=2.2, label="target")[0],
        ax.plot([], [], marker="v", color=COLORS["detect"], ls="none", label="detected")[0],
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if not rows:
        ax.text(0.5, 0.5, "no experiments recorded", transform=ax.transAxes, ha="center", va="center")
    return fig
