"""Draw every chart of a report into ``charts/`` and describe what was drawn."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from resilience.report.build import ExperimentData, ReportData, experiment_requests
from resilience.report.charts import (
    failover_figure,
    integrity_figure,
    latency_figure,
    recovery_figure,
    save_figure,
    timeline_figure,
)
from resilience.report.charts.distribution import latency_distribution_figure

__all__ = ["CAPTIONS", "Chart", "render_charts"]


@dataclass(frozen=True)
class Chart:
    """A PNG written for the report: what it shows, for which experiment key (None: the whole run)."""

    key: str
    title: str
    path: Path
    experiment: str | None = None

    @property
    def caption(self) -> str:
        """How to read the chart, for the report's figure caption."""
        return CAPTIONS.get(self.key, self.title)


CAPTIONS = {
    "recovery": "Bar: time from the fault start until the SLOs held again for the stabilisation window. Black tick: "
    "the experiment's recovery target; ▼: when the fault was detected. Green: within target; red: late; "
    "hatched grey: no recovery recorded.",
    "integrity": "Counts from the integrity checker after each experiment. A lost or duplicated acknowledged message "
    "fails the experiment; out-of-order delivery (amber) is a warning.",
    "failover": "Each bar starts at the fault; each segment ends when the named step was recorded, so its length is "
    "how long that step took.",
    "timeline": "Shaded: fault window. Dashed orange: detection; solid green: recovery; dotted: recovery target; "
    "dashed horizontal lines: SLOs. Latency uses a log scale when it spans a wide range.",
    "distribution": "Every successful request of the experiment from the raw load events: before the fault, "
    "from the fault until recovery, and after recovery. Height at x: share of requests that took "
    "at most x ms; dashed: the p95 SLO; dotted: 95 % of requests - a curve crossing the dotted "
    "line left of the dashed one met the p95 SLO.",
    "latency": "Per-interval p50, p95 and p99 before the fault, from the fault until recovery, and after recovery. "
    "Box: the middle half of the intervals; line: the median interval; whiskers: 5th to 95th "
    "percentile of intervals.",
}
"""Chart key -> caption shown under it in report.html."""


def _save(fig: Figure, path: Path) -> Path:
    try:
        return save_figure(fig, path)
    finally:
        fig.clear()


def render_charts(data: ReportData, charts_dir: Path) -> list[Chart]:
    """Write the run-wide charts and each experiment's timeline and latency charts; return them in order."""
    experiments = [d.experiment for d in data.experiments]
    charts: list[Chart] = []
    if experiments:
        charts.append(
            Chart(
                "recovery", "Recovery time vs target", _save(recovery_figure(experiments), charts_dir / "recovery.png")
            )
        )
        charts.append(
            Chart("integrity", "Message integrity", _save(integrity_figure(experiments), charts_dir / "integrity.png"))
        )
    if any(e.phases for e in experiments):
        charts.append(
            Chart("failover", "Failover breakdown", _save(failover_figure(experiments), charts_dir / "failover.png"))
        )
    for item in (*data.experiments, *([data.whole] if data.whole is not None else [])):
        charts.extend(_experiment_charts(data, item, charts_dir))
    return charts


def _experiment_charts(data: ReportData, item: ExperimentData, charts_dir: Path) -> list[Chart]:
    """Timeline (when there is one) and latency: single requests when the raw events exist, else intervals."""
    exp, series, key = item.experiment, item.series, item.key
    charts = []
    if series is not None:
        charts.append(
            Chart(
                "timeline",
                f"{exp.name}: timeline",
                _save(timeline_figure(exp, series, server=item.server), charts_dir / f"timeline-{key}.png"),
                key,
            )
        )
    requests = experiment_requests(data, item)
    title = f"{exp.name}: latency before / during / after"
    if requests is not None:
        figure = latency_distribution_figure(exp, requests)
        charts.append(Chart("distribution", title, _save(figure, charts_dir / f"latency-{key}.png"), key))
    elif series is not None:
        charts.append(
            Chart("latency", title, _save(latency_figure(exp, series), charts_dir / f"latency-{key}.png"), key)
        )
    return charts
