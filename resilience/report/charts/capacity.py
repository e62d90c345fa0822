"""Capacity charts: each function takes a ``CapacityResult`` and returns a matplotlib ``Figure``.

* ``p95_vs_users`` — one panel per condition: p95 of every step of every repeat (coloured by verdict),
  the median over repeats, the SLO line and the knee with its confidence band;
* ``throughput_vs_users`` — throughput against users, one line per condition, knees marked;
* ``capacity_per_condition`` — the knee per condition with its confidence interval and the repeats;
* ``headroom_vs_target`` — each knee as a share of the target users (10,000 by default).

Figures are built without pyplot (no global state, Agg canvas); ``save_capacity_charts`` writes PNGs
through the one save path of every chart (``_style.save_figure``).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from resilience.capacity.result import CapacityResult, ConditionResult, KneeSummary, StepRecord
from resilience.report.charts.style import PALETTE, save_figure

__all__ = [
    "CAPACITY_CHARTS",
    "capacity_per_condition",
    "headroom_vs_target",
    "p95_vs_users",
    "save_capacity_charts",
    "throughput_vs_users",
]

_VERDICT_COLOURS = {"ok": "#2ca02c", "failed": "#ff7f0e", "broken": "#d62728", "inconclusive": "#7f7f7f"}
_UNKNOWN_COLOUR = "#7f7f7f"
"""A lower bound below the target: the plan stopped, the service did not — neither green nor red."""
_SLO_COLOUR = "#d62728"
_DPI = 110


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _users_fmt(x: float, _pos: object = None) -> str:
    return f"{x:,.0f}"


def _plain_fmt(y: float, _pos: object = None) -> str:
    """Plain numbers on a log axis; minor ticks labelled only at 2-5 x a power of ten (less clutter)."""
    text = f"{y:g}"
    return text if text[0] in "12345" else ""


def _median_curve(cond: ConditionResult, value: Callable[[StepRecord], float | None]) -> tuple[list[int], list[float]]:
    """Median of ``value`` over repeats at each users level (steps without a value are left out)."""
    by_users: dict[int, list[float]] = defaultdict(list)
    for rep in cond.repeats:
        for s in rep.steps:
            v = value(s)
            if v is not None:
                by_users[s.users].append(v)
    users = sorted(by_users)
    return users, [statistics.median(by_users[u]) for u in users]


def _knee_label(knee: KneeSummary | None) -> str:
    if knee is None:
        return "no data"
    return knee.label()


def _mark_knee(ax: Axes, knee: KneeSummary | None, colour: str) -> None:
    if knee is None or knee.below_range:
        ax.text(0.5, 0.5, f"knee: {_knee_label(knee)}", transform=ax.transAxes, ha="center", fontsize=9, color=colour)
        return
    if knee.ci_low is not None and knee.ci_high is not None and knee.ci_high > knee.ci_low:
        ax.axvspan(knee.ci_low, knee.ci_high, color=colour, alpha=0.12, lw=0)
    ax.axvline(knee.users, color=colour, ls="--", lw=1.2, label=f"knee {_knee_label(knee)}")


def _p95_panel(ax: Axes, cond: ConditionResult, colour: str, slo_ms: float | None) -> None:
    for rep in cond.repeats:
        pts = [(s.users, s.p95_ms, s.verdict) for s in rep.steps if s.p95_ms is not None]
        ax.scatter(
            [u for u, _, _ in pts],
            [p for _, p, _ in pts],
            c=[_VERDICT_COLOURS[v.value] for _, _, v in pts],
            s=18,
            alpha=0.7,
            zorder=3,
        )
    users, p95 = _median_curve(cond, lambda s: s.p95_ms)
    ax.plot(users, p95, color=colour, lw=1.8, label="median p95", zorder=2)
    if slo_ms is not None:
        ax.axhline(slo_ms, color=_SLO_COLOUR, ls=":", lw=1.4, label=f"SLO p95 {slo_ms:g} ms")
    _mark_knee(ax, cond.knee, colour)
    ax.set_title(cond.name, fontsize=10)
    if any(s.p95_ms for rep in cond.repeats for s in rep.steps):
        ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_plain_fmt))
    ax.yaxis.set_minor_formatter(FuncFormatter(_plain_fmt))
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.grid(True, which="both", alpha=0.25)
    ax.xaxis.set_major_formatter(FuncFormatter(_users_fmt))
    ax.legend(fontsize=7, loc="best")


def p95_vs_users(result: CapacityResult) -> Figure:
    """p95 latency against users, one panel per condition, with the SLO line and the knee."""
    n = max(len(result.conditions), 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.6 * cols, 3.6 * rows), dpi=_DPI, layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for i, cond in enumerate(result.conditions):
        _p95_panel(axes[i], cond, _colour(i), cond.slo.get("p95_ms"))
    for ax in axes[len(result.conditions) :]:
        ax.set_visible(False)
    for ax in axes[(rows - 1) * cols :]:
        ax.set_xlabel("users")
    metric = "send->ack p95" if result.plan.get("latency", "ack") == "ack" else "p95"
    for ax in axes[::cols]:
        ax.set_ylabel(f"{metric} (ms, log)")
    fig.suptitle(
        "p95 latency vs users per condition "
        "(dots: steps of each repeat; green ok, orange over SLO, red clearly broken)",
        fontsize=10,
    )
    return fig


def throughput_vs_users(result: CapacityResult) -> Figure:
    """Throughput against users, one line per condition (median over repeats), knees marked."""
    fig = Figure(figsize=(8, 4.5), dpi=_DPI, layout="constrained")
    ax = fig.subplots()
    for i, cond in enumerate(result.conditions):
        users, tput = _median_curve(cond, lambda s: s.throughput)
        ax.plot(users, tput, marker="o", ms=4, color=_colour(i), label=f"{cond.name}: knee {_knee_label(cond.knee)}")
        knee = cond.knee
        if knee is not None and not knee.below_range and users:
            at = min(range(len(users)), key=lambda j: abs(users[j] - knee.users))
            ax.plot([users[at]], [tput[at]], marker="D", ms=9, mfc="none", mec=_colour(i), mew=2)
    ax.set_xlabel("users")
    ax.set_ylabel("throughput (requests/s)")
    ax.set_title("Throughput vs users (diamond: the knee)")
    ax.xaxis.set_major_formatter(FuncFormatter(_users_fmt))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def capacity_per_condition(result: CapacityResult) -> Figure:
    """The knee per condition: mean bar, confidence interval, each repeat's knee as a dot."""
    conds = result.conditions
    fig = Figure(figsize=(max(6.0, 1.6 * len(conds) + 2), 4.5), dpi=_DPI, layout="constrained")
    ax = fig.subplots()
    for i, cond in enumerate(conds):
        knee = cond.knee
        if knee is None:
            ax.text(i, 0, "no data", ha="center", va="bottom", fontsize=8)
            continue
        hatch = "//" if knee.censored else None
        ax.bar(i, knee.users, color=_colour(i), alpha=0.75, hatch=hatch, edgecolor="black", lw=0.6)
        if knee.ci_low is not None and knee.ci_high is not None:
            ax.errorbar(
                i, knee.users, yerr=[[knee.users - knee.ci_low], [knee.ci_high - knee.users]], color="black", capsize=6
            )
        ax.scatter([i] * len(knee.values), knee.values, color="black", s=14, zorder=4)
        ax.scatter([i] * len(knee.lower_bounds), knee.lower_bounds, color="black", marker="^", s=22, zorder=4)
        top = max(knee.ci_high or knee.users, knee.users)
        ax.annotate(
            _knee_label(knee), (i, top), xytext=(0, 4), textcoords="offset points", ha="center", va="bottom", fontsize=8
        )
    ax.set_xticks(range(len(conds)), [c.name for c in conds], rotation=15)
    ax.set_ylabel("users at SLO (knee)")
    ax.yaxis.set_major_formatter(FuncFormatter(_users_fmt))
    ax.margins(y=0.15)
    confidence = next((c.knee.confidence for c in conds if c.knee is not None), 0.95)
    ax.set_title(
        f"Capacity per condition: mean knee, {confidence:.0%} Student-t interval, "
        "dots = repeats (hatched: lower bound)",
        fontsize=10,
    )
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def _ratio_err(knee: KneeSummary | None, target: int) -> list[list[float]] | None:
    if knee is None or knee.ci_low is None or knee.ci_high is None:
        return None
    return [[(knee.users - knee.ci_low) / target], [(knee.ci_high - knee.users) / target]]


def _headroom_label(cond: ConditionResult, ratio: float, target: int) -> str:
    knee, room = cond.knee, cond.headroom
    if knee is None or room is None:
        return "no data"
    if room.meets is None:
        return f">= {knee.users:,.0f} users held: the search stopped before the SLO broke (not a ceiling)"
    if knee.n == 0 and not knee.censored:
        return f"{knee.label()} ({room.users:+,.0f} users)"
    prefix = ">= " if knee.censored else ""
    return f"{prefix}{ratio:.1%} of target ({prefix}{room.users:+,.0f} users)"


def headroom_vs_target(result: CapacityResult) -> Figure:
    """Each condition's knee as a share of the target users, with the 100% line."""
    conds = result.conditions
    target = result.target_users
    fig = Figure(figsize=(8, 0.7 * len(conds) + 1.8), dpi=_DPI, layout="constrained")
    ax = fig.subplots()
    ratios = [c.knee.users / target if c.knee is not None else 0.0 for c in conds]
    for i, (cond, ratio) in enumerate(zip(conds, ratios, strict=True)):
        room = cond.headroom
        err = _ratio_err(cond.knee, target)
        colour = _UNKNOWN_COLOUR if room is None or room.meets is None else ("#2ca02c" if room.meets else "#d62728")
        hatch = "//" if room is not None and room.bound == "lower" else None
        ax.barh(i, ratio, color=colour, alpha=0.75, xerr=err, capsize=4, hatch=hatch, edgecolor=colour)
        ax.annotate(
            _headroom_label(cond, ratio, target),
            (ratio + (err[1][0] if err else 0.0), i),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.axvline(1.0, color="black", ls="--", lw=1.2, label=f"target {target:,} users")
    ax.set_yticks(range(len(conds)), [c.name for c in conds])
    ax.invert_yaxis()
    ax.set_xlim(0, max([1.45, *(r * 1.45 for r in ratios)]))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("knee as share of target users")
    ax.set_title(
        f"Headroom against the {target:,}-user target (green: interval low end reaches it; "
        "grey hatched: a lower bound, unknown)",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


CAPACITY_CHARTS: dict[str, Callable[[CapacityResult], Figure]] = {
    "capacity-p95.png": p95_vs_users,
    "capacity-throughput.png": throughput_vs_users,
    "capacity-knees.png": capacity_per_condition,
    "capacity-headroom.png": headroom_vs_target,
}
"""File name -> chart function, in the order a report shows them."""


def save_capacity_charts(result: CapacityResult, out_dir: Path) -> list[Path]:
    """Draw every capacity chart into ``out_dir`` as PNG; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, chart in CAPACITY_CHARTS.items():
        paths.append(save_figure(chart(result), out_dir / name))
    return paths
