"""The per-experiment timeline: throughput, error rate, latency percentiles and open WebSockets over time.

The fault window is shaded in every panel, detection and recovery are vertical lines, SLOs are dashed
horizontal lines. Time runs in seconds relative to the fault start (or to the first interval when the
fault never started), so every experiment's chart reads the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from resilience.report.alerts import GOOD, alert_verdict
from resilience.report.charts.style import (
    COLORS,
    VERDICT_COLORS,
    floor_zero,
    fmt_seconds,
    legend_right,
    log_y,
    new_figure,
    style_axes,
    wide_range,
)
from resilience.report.deploys import deploy_lines
from resilience.report.model import Experiment
from resilience.report.series import FloatArray, Series, coarsen

__all__ = ["MAX_POINTS", "TimelineMarks", "timeline_figure", "timeline_marks"]

MAX_POINTS = 400
"""More intervals than this are drawn coarser: beyond it a step is narrower than about two pixels."""


@dataclass(frozen=True)
class TimelineMarks:
    """Where things happened, in seconds on the chart's x axis (relative to ``origin``, epoch s)."""

    origin: float
    origin_label: str
    fault: tuple[float, float] | None
    detected: float | None
    recovered: float | None
    target: float | None
    end: float | None = None
    """Last interval on the relative axis (None without data)."""


def timeline_marks(exp: Experiment, series: Series) -> TimelineMarks:
    """Place the fault window, detection, recovery and the recovery target on the relative time axis."""
    if exp.fault_start is None:
        origin = float(series.t[0]) if len(series) else 0.0
        return TimelineMarks(origin, "seconds since the first interval", None, None, None, None)
    origin = exp.fault_start
    end = exp.fault_end if exp.fault_end is not None else (float(series.t[-1]) if len(series) else origin)

    def rel(epoch: float | None) -> float | None:
        return None if epoch is None else epoch - origin

    return TimelineMarks(
        origin=origin,
        origin_label="seconds since fault start",
        fault=(0.0, end - origin),
        detected=rel(exp.detection_time),
        recovered=rel(exp.recovery_time),
        target=exp.recovery_target_s,
        end=rel(float(series.t[-1])) if len(series) else None,
    )


def _mark(axes: list[Axes], marks: TimelineMarks) -> None:
    for i, ax in enumerate(axes):
        first = i == 0
        if marks.fault is not None:
            ax.axvspan(*marks.fault, color=COLORS["fault"], alpha=0.12, lw=0, label="fault window" if first else None)
        if marks.detected is not None:
            label = f"detected (+{marks.detected:.1f} s)" if first else None
            ax.axvline(marks.detected, color=COLORS["detect"], ls="--", lw=1.4, label=label)
        if marks.recovered is not None:
            label = f"recovered (+{marks.recovered:.1f} s)" if first else None
            ax.axvline(marks.recovered, color=COLORS["recover"], ls="-", lw=1.6, label=label)
        if marks.target is not None:
            beyond = marks.end is not None and marks.target > marks.end
            label = (
                f"recovery target ({marks.target:g} s{', after the end of the data' if beyond else ''})"
                if first
                else None
            )
            ax.axvline(marks.target, color=COLORS["target"], ls=":", lw=1.4, label=label)


_MAX_BARS = 6


def _alert_bars(ax: Axes, exp: Experiment, marks: TimelineMarks) -> None:
    """One thin bar per alert across the top of ``ax``, from its firing notice to its resolved one (or the
    end), coloured by its verdict in the alerts table (resilience/report/alerts.py): on time green, late or
    leftover red, not expected grey; a missing expected alert is named in red. Six at most (the rest are
    counted; the table lists them all)."""
    if marks.fault is None:
        return
    end = marks.end if marks.end is not None else marks.fault[1]
    for i, alert in enumerate(exp.alerts[:_MAX_BARS]):
        top = 0.98 - i * 0.07
        verdict = alert_verdict(alert)
        if alert.fired_s is None:
            ax.text(0.01, top - 0.05, f"{alert.name}: {verdict} (did not fire)", transform=ax.transAxes,
                    color=COLORS["bad"], fontsize=8, va="bottom")  # fmt: skip
            continue
        color = COLORS["unknown"] if not alert.expected else COLORS["ok"] if verdict in GOOD else COLORS["bad"]
        stop = alert.resolved_s if alert.resolved_s is not None else end
        ax.axvspan(alert.fired_s, max(stop, alert.fired_s), ymin=top - 0.05, ymax=top, color=color, alpha=0.8,
                   lw=0, label=f"alert {alert.name} (+{alert.fired_s:.1f} s, {verdict})")  # fmt: skip
    if len(exp.alerts) > _MAX_BARS:
        ax.text(0.99, 0.98 - _MAX_BARS * 0.07, f"+{len(exp.alerts) - _MAX_BARS} more alerts (alerts table)",
                transform=ax.transAxes, ha="right", fontsize=8, color=COLORS["unknown"])  # fmt: skip
    if exp.silent_failure:
        ax.text(0.5, 0.5, "SILENT FAILURE: the SLO broke and no alert fired", transform=ax.transAxes,
                ha="center", va="center", color=COLORS["bad"], fontsize=12, fontweight="bold")  # fmt: skip


def _server_lines(axes: list[Axes], x: FloatArray, server: Series) -> None:
    """The server's error rate (panel 2) and p95 (panel 3), dotted: the service's own view."""
    if (errors := server.get("server_error_rate")) is not None:
        axes[1].plot(x, errors * 100.0, color=COLORS["error_rate"], ls=":", lw=1.6, label="server error rate",
                     drawstyle="steps-post")  # fmt: skip
    if (p95 := server.get("server_p95_ms")) is not None:
        axes[2].plot(x, p95, color=COLORS["p95"], ls=":", lw=1.6, label="server p95", drawstyle="steps-post")


def _slo_line(ax: Axes, value: float | None, label: str, color: str = COLORS["slo"]) -> None:
    if value is not None:
        ax.axhline(value, color=color, ls="--", lw=1.0, alpha=0.9, label=label)


def _plot(ax: Axes, x: FloatArray, series: Series, column: str, *, label: str, color: str, scale: float = 1.0) -> bool:
    values = series.get(column)
    if values is None:
        ax.text(0.5, 0.5, f"no {column} data", transform=ax.transAxes, ha="center", va="center", color="#777")
        return False
    ax.plot(x, values * scale, color=color, lw=1.2, label=label, drawstyle="steps-post")
    return True


def _latency(ax: Axes, x: FloatArray, series: Series, exp: Experiment) -> None:
    present = [p for p in ("p50", "p95", "p99") if series.get(f"{p}_ms") is not None]
    for p in present:
        _plot(ax, x, series, f"{p}_ms", label=p, color=COLORS[p])
    if not present:
        ax.text(0.5, 0.5, "no latency data", transform=ax.transAxes, ha="center", va="center", color="#777")
    _slo_line(ax, exp.slo.p95_ms, f"SLO p95 < {exp.slo.p95_ms:g} ms" if exp.slo.p95_ms else "", COLORS["p95"])
    _slo_line(ax, exp.slo.p99_ms, f"SLO p99 < {exp.slo.p99_ms:g} ms" if exp.slo.p99_ms else "", COLORS["p99"])
    if wide_range(*(series.columns[f"{p}_ms"] for p in present)):
        log_y(ax)
    else:
        floor_zero(ax)
    ax.set_ylabel("latency (ms)")


def _title(exp: Experiment) -> str:
    parts = [f"{exp.name}: {exp.verdict.upper()}"]
    if exp.recovery_s is not None:
        target = f" (target {exp.recovery_target_s:g} s)" if exp.recovery_target_s is not None else ""
        parts.append(f"recovered in {fmt_seconds(exp.recovery_s)}{target}")
    elif exp.fault_start is not None:
        parts.append("no recovery recorded")
    return " — ".join(parts)


def _coarsened_note(series: Series, factor: int) -> str:
    resolution = round(series.resolution_s() or 0.0, 3)
    return (
        f"(each step spans {resolution * factor:g} s = {factor} intervals of {resolution:g} s: requests per "
        "second, errors over requests, the worst latency, the fewest open WebSockets)"
    )


def timeline_figure(
    exp: Experiment, series: Series, *, server: Series | None = None, max_points: int = MAX_POINTS
) -> Figure:
    """Four stacked panels sharing the time axis; see the module docstring. ``server``: the server's p95
    and error rate (from Prometheus), drawn dotted beside the client's.

    Timelines longer than ``max_points`` intervals are drawn coarser (``series.coarsen``), and the chart says so.
    """
    fig = new_figure(11.0, 9.0)
    axes = list(fig.subplots(4, 1, sharex=True))
    marks = timeline_marks(exp, series)
    drawn, factor = coarsen(series, max_points)
    x = drawn.t - marks.origin
    _panels(axes, x, drawn, exp)
    if server is not None and len(server):
        _server_lines(axes, server.t - marks.origin, server)
    note = f"\n{_coarsened_note(series, factor)}" if factor > 1 else ""
    axes[3].set_xlabel(marks.origin_label + note)
    _mark(axes, marks)
    deploy_lines(axes, exp.deploys, marks.origin, COLORS["deploy"])
    _alert_bars(axes[0], exp, marks)
    for ax in axes:
        style_axes(ax)
        legend_right(ax)
    for ax in (axes[0], axes[1], axes[3]):
        floor_zero(ax)
    axes[3].yaxis.set_major_locator(MaxNLocator(integer=True))
    if len(x) > 1 and np.nanmax(x) > np.nanmin(x):
        axes[3].set_xlim(float(np.nanmin(x)), float(np.nanmax(x)))
    fig.suptitle(_title(exp), fontsize=13, color=VERDICT_COLORS.get(exp.verdict, "black"), fontweight="bold")
    return fig


def _panels(axes: list[Axes], x: FloatArray, series: Series, exp: Experiment) -> None:
    _plot(axes[0], x, series, "throughput", label="throughput", color=COLORS["throughput"])
    if exp.slo.throughput_min:
        _slo_line(axes[0], exp.slo.throughput_min, f"SLO ≥ {exp.slo.throughput_min:g} req/s")
    axes[0].set_ylabel("throughput (req/s)")
    _plot(axes[1], x, series, "error_rate", label="error rate", color=COLORS["error_rate"], scale=100.0)
    if exp.slo.error_rate is not None:
        _slo_line(axes[1], exp.slo.error_rate * 100, f"SLO < {exp.slo.error_rate * 100:g} %")
    axes[1].set_ylabel("errors (% of requests)")
    _latency(axes[2], x, series, exp)
    _plot(axes[3], x, series, "ws_open", label="open WebSockets", color=COLORS["ws_open"])
    if series.get("in_flight") is not None:  # timelines written before requests were attributed lack it
        _plot(axes[3], x, series, "in_flight", label="requests in flight", color=COLORS["in_flight"])
    axes[3].set_ylabel("sockets / in flight")
