"""Failover breakdown: how long each step took, from fault start to the last step recorded.

One row per experiment that recorded ``phases``: measured from the components (leader lost → leader elected
→ routed → first write acked → clients reconnected → backlog delivered; process gone → marked down →
restarted → ready → in rotation: resilience/analysis/anatomy.py), or the runner's own steps for a fault
without an anatomy. Each segment spans from the previous phase (or the fault start) to this one; a black
tick marks the measured recovery (``recovery_s``), so a gap between the phase that marks recovery and the
tick is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from resilience.report.charts.style import new_figure, style_axes
from resilience.report.model import Experiment

__all__ = ["Segment", "failover_figure", "failover_segments"]


@dataclass(frozen=True)
class Segment:
    """One step of a failover: its name and its span in seconds from the fault start."""

    name: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def failover_segments(exp: Experiment) -> list[Segment]:
    """Consecutive segments from the fault start through each recorded phase (empty without phases)."""
    if not exp.phases:
        return []
    origin = exp.fault_start if exp.fault_start is not None else exp.phases[0].at
    segments: list[Segment] = []
    previous = 0.0
    for phase in exp.phases:
        at = phase.at - origin
        if at <= 0 and not segments:
            continue  # the fault itself: the origin, not a step
        segments.append(Segment(phase.name, previous, max(at, previous)))
        previous = max(at, previous)
    return segments


def failover_figure(experiments: Sequence[Experiment]) -> Figure:
    """Stacked horizontal bars, one per experiment with phases, segments labelled with their duration."""
    rows = [(e, failover_segments(e)) for e in experiments if e.phases]
    names: list[str] = []
    for _, segments in rows:
        names.extend(s.name for s in segments if s.name not in names)
    palette = [*colormaps["tab20"].colors, *colormaps["tab20b"].colors]  # type: ignore[attr-defined]
    colors = {name: palette[i % len(palette)] for i, name in enumerate(names)}
    widest = max([*(s[-1].end_s for _, s in rows if s), *(e.recovery_s or 0.0 for e, _ in rows)], default=1.0) or 1.0
    fig = new_figure(11.0, 1.6 + 0.7 * max(len(rows), 1) + 0.25 * (len(names) // 4))
    ax = fig.subplots()
    for y, (_, segments) in enumerate(rows):
        for seg in segments:
            ax.barh(y, seg.duration_s, left=seg.start_s, color=colors[seg.name], edgecolor="white", height=0.6)
            if seg.duration_s >= 0.07 * widest:
                ax.text(
                    seg.start_s + seg.duration_s / 2,
                    y,
                    f"{seg.duration_s:.1f} s",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white",
                    fontweight="bold",
                )
        total = segments[-1].end_s if segments else 0.0
        ax.text(total, y, f"  total {total:.1f} s", va="center", fontsize=9)
        exp = rows[y][0]
        if exp.recovery_s is not None:
            ax.plot([exp.recovery_s] * 2, [y - 0.42, y + 0.42], color="black", lw=2)
            ax.text(exp.recovery_s, y - 0.45, f"recovery {exp.recovery_s:.2f} s", ha="center", va="bottom", fontsize=7)
    ax.set_yticks(range(len(rows)), [e.name for e, _ in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, widest * 1.2)
    ax.set_xlabel("seconds from fault start")
    title = "Failover anatomy (each segment ends when its phase happened; black: measured recovery)"
    ax.set_title(title, fontsize=12, fontweight="bold")
    style_axes(ax)
    ax.grid(axis="y", visible=False)
    handles = [Patch(color=colors[n], label=n) for n in names]
    if handles:
        ncol = len(names) if len(names) <= 6 else 4
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=8, frameon=False)
    if not rows:
        ax.text(0.5, 0.5, "no failover phases recorded", transform=ax.transAxes, ha="center", va="center")
    return fig
