"""Integrity panel: acknowledged, lost, duplicated and out-of-order messages per experiment, as a table.

A count of zero is green, anything above zero red, not measured grey: readable at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from resilience.report.charts._style import COLORS, new_figure
from resilience.report.model import Experiment

__all__ = ["INTEGRITY_COLUMNS", "integrity_cells", "integrity_figure"]

INTEGRITY_COLUMNS = ("acked", "lost", "duplicated", "out_of_order")

_TINT = {"ok": "#d5f0dd", "bad": "#f8d0cc", "unknown": "#eeeeee", "plain": "white"}


def integrity_cells(exp: Experiment) -> list[tuple[str, str]]:
    """(text, state) per column; state is ok, bad, unknown (not measured) or plain (acked)."""
    if exp.integrity is None:
        return [("not measured", "unknown")] * len(INTEGRITY_COLUMNS)
    cells = []
    for column in INTEGRITY_COLUMNS:
        value = getattr(exp.integrity, column)
        if value is None:
            cells.append(("—", "unknown"))
        elif column == "acked":
            cells.append((f"{value:,}", "plain"))
        else:
            cells.append((f"{value:,}", "ok" if value == 0 else "bad"))
    return cells


def integrity_figure(experiments: Sequence[Experiment]) -> Figure:
    """A coloured table: one row per experiment, one column per integrity count."""
    rows = list(experiments)
    fig = new_figure(9.0, 0.7 + 0.36 * (max(len(rows), 1) + 1))
    ax = fig.subplots()
    ax.axis("off")
    cells = [integrity_cells(e) for e in rows] or [[("—", "unknown")] * len(INTEGRITY_COLUMNS)]
    table = ax.table(
        cellText=[[text for text, _ in row] for row in cells],
        cellColours=[[_TINT[state] for _, state in row] for row in cells],
        rowLabels=[e.name for e in rows] or ["(no experiments)"],
        colLabels=["acknowledged", "lost", "duplicated", "out of order"],
        cellLoc="center",
        bbox=Bbox.from_bounds(0.0, 0.0, 1.0, 1.0),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(10)
    for (r, _c), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        if r == 0:
            cell.set_text_props(fontweight="bold")
    verdict = "no acknowledged message lost" if all(e.integrity and e.integrity.ok for e in rows) and rows else (
        "integrity problems found" if any(e.integrity and e.integrity.ok is False for e in rows) else
        "integrity not fully measured")
    color = COLORS["ok"] if verdict.startswith("no ack") else COLORS["bad"] if "problems" in verdict else "#555"
    ax.set_title(f"Message integrity: {verdict}", fontsize=12, fontweight="bold", color=color)
    return fig
