"""Integrity panel: acknowledged, lost, duplicated and out-of-order messages per experiment, as a table.

A count of zero is green, anything above zero red, not measured grey: readable at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from resilience.report.charts.style import COLORS, new_figure
from resilience.report.model import Experiment

__all__ = ["INTEGRITY_COLUMNS", "integrity_cells", "integrity_figure"]

INTEGRITY_COLUMNS = ("acked", "lost", "duplicated", "out_of_order")

_TINT = {"ok": "#d5f0dd", "bad": "#f8d0cc", "warn": "#fdebc8", "unknown": "#eeeeee", "plain": "white"}


def integrity_cells(exp: Experiment, *, delivery: bool = False) -> list[tuple[str, str]]:
    """(text, state) per column; state is ok, bad, unknown (not measured) or plain (acked)."""
    width = len(INTEGRITY_COLUMNS) + delivery
    if exp.integrity is None:
        return [("not measured", "unknown")] * width
    cells = []
    for column in INTEGRITY_COLUMNS:
        value = getattr(exp.integrity, column)
        if value is None:
            cells.append(("—", "unknown"))
        elif column == "acked":
            cells.append((f"{value:,}", "plain"))
        else:
            cells.append((f"{value:,}", "ok" if value == 0 else "bad"))
    if delivery:
        ratio = exp.integrity.delivery_ratio
        cells.append(("—", "unknown") if ratio is None else (f"{ratio * 100:.1f} %", "plain"))
    return cells


def _verdict(rows: Sequence[Experiment]) -> tuple[str, str]:
    """The panel title's verdict and colour: failures first, then gaps, then warnings."""
    measured = [e.integrity for e in rows if e.integrity is not None and e.integrity.ok is not None]
    if any(i.ok is False for i in measured):
        return "acknowledged messages lost, duplicated, reordered or skipped", COLORS["bad"]
    if not rows or len(measured) < len(rows):
        return "not measured for every experiment", "#555555"
    return "no acknowledged message lost, duplicated, reordered or skipped", COLORS["ok"]


def integrity_figure(experiments: Sequence[Experiment]) -> Figure:
    """A coloured table: one row per experiment, one column per integrity count."""
    rows = list(experiments)
    delivery = any(e.integrity is not None and e.integrity.delivery_ratio is not None for e in rows)
    labels = ["acknowledged", "lost", "duplicated", "out of order"] + (["delivered to\nWebSockets"] if delivery else [])
    fig = new_figure(9.0 + 1.6 * delivery, 0.7 + 0.36 * (max(len(rows), 1) + 1) + 0.2 * delivery)
    ax = fig.subplots()
    ax.axis("off")
    cells = [integrity_cells(e, delivery=delivery) for e in rows] or [[("—", "unknown")] * len(labels)]
    table = ax.table(
        cellText=[[text for text, _ in row] for row in cells],
        cellColours=[[_TINT[state] for _, state in row] for row in cells],
        rowLabels=[e.name for e in rows] or ["(no experiments)"],
        colLabels=labels,
        cellLoc="center",
        bbox=Bbox.from_bounds(0.0, 0.0, 1.0, 1.0),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    for (r, _c), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        if r == 0:
            cell.set_text_props(fontweight="bold")
    verdict, color = _verdict(rows)
    ax.set_title(f"Message integrity: {verdict}", fontsize=12, fontweight="bold", color=color)
    return fig
