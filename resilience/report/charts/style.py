"""Shared look of every chart: colours, figure creation on the Agg canvas, saving, number formats."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

__all__ = [
    "COLORS",
    "VERDICT_COLORS",
    "floor_zero",
    "fmt_seconds",
    "legend_right",
    "log_x",
    "log_y",
    "new_figure",
    "save_figure",
    "style_axes",
    "wide_range",
]

COLORS = {
    "throughput": "#1f77b4",
    "error_rate": "#d62728",
    "p50": "#2ca02c",
    "p95": "#ff7f0e",
    "p99": "#9467bd",
    "ws_open": "#17becf",
    "in_flight": "#8c564b",
    "fault": "#d62728",
    "detect": "#e6a700",
    "recover": "#006400",
    "target": "#555555",
    "slo": "#b22222",
    "ok": "#2e8b57",
    "bad": "#c0392b",
    "unknown": "#9e9e9e",
    "deploy": "#6a3d9a",
}
"""One colour per quantity, the same in every chart."""

VERDICT_COLORS = {
    "passed": COLORS["ok"],
    "failed": COLORS["bad"],
    "aborted": "#8e44ad",
    "interrupted": COLORS["unknown"],
    "inconclusive": "#17becf",
}


PALETTE = ("#1f77b4", "#d62728", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b", "#17becf")
"""Colours for series that are named, not semantic (conditions, experiments), in order of use."""


def new_figure(width: float, height: float) -> Figure:
    """A Figure on its own Agg canvas (no pyplot, no global state), laid out with constrained layout."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def style_axes(ax: Axes) -> None:
    """Light grid behind the data, no top/right spines."""
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def _minor_label(ax: Axes, axis: str = "y") -> FuncFormatter:
    """Minor log ticks as plain numbers: 2x and 5x under ~2 decades (3x too under one), none on wider axes."""

    def label(value: float, _pos: int | None) -> str:
        low, high = ax.get_ylim() if axis == "y" else ax.get_xlim()
        decades = math.log10(high / low) if low > 0 and high > low else 99.0
        text = f"{value:g}"
        digits = "235" if decades < 1 else "25" if decades <= 2.3 else ""
        return text if text[0] in digits else ""

    return FuncFormatter(label)


def wide_range(*arrays: npt.ArrayLike, ratio: float = 5.0) -> bool:
    """True when the positive finite values span more than ``ratio`` (worth a log axis)."""
    values = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays]) if arrays else np.empty(0)
    positive = values[np.isfinite(values) & (values > 0)]
    return bool(positive.size >= 2 and positive.max() / positive.min() > ratio)


def floor_zero(ax: Axes) -> None:
    """Start the y axis at 0 (keeping a visible range when every value is 0)."""
    top = ax.get_ylim()[1]
    ax.set_ylim(0, top if top > 0 else 1)


def legend_right(ax: Axes) -> None:
    """A legend outside the axes on the right, only when something is labelled."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def log_x(ax: Axes) -> None:
    """Logarithmic x axis with plain-number labels."""
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.xaxis.set_minor_formatter(_minor_label(ax, "x"))


def log_y(ax: Axes) -> None:
    """Logarithmic y axis with plain-number labels."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.yaxis.set_minor_formatter(_minor_label(ax))


def save_figure(fig: Figure, path: Path, *, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG to ``path`` (parents created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png", metadata={"Software": "resilience"})
    return path


def fmt_seconds(value: float | None) -> str:
    """``4.5 s``, ``1 min 12 s``; an em dash for None."""
    if value is None:
        return "—"
    if abs(value) < 90:
        return f"{value:.1f} s"
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)} min {seconds:.0f} s"
