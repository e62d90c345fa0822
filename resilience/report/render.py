"""Draw every chart of a report into ``charts/`` and describe what was drawn."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from resilience.report.build import ReportData
from resilience.report.charts import (
    failover_figure,
    integrity_figure,
    latency_figure,
    recovery_figure,
    save_figure,
    timeline_figure,
)

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
    "latency": "Per-interval p50, p95 and p99 before, during and after the fault window. Box: the middle half of the "
               "intervals; line: the median interval; whiskers: 5th to 95th percentile of intervals.",
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
        charts.append(Chart("recovery", "Recovery time vs target",
                            _save(recovery_figure(experiments), charts_dir / "recovery.png")))
        charts.append(Chart("integrity", "Message integrity",
                            _save(integrity_figure(experiments), charts_dir / "integrity.png")))
    if any(e.phases for e in experiments):
        charts.append(Chart("failover", "Failover breakdown",
                            _save(failover_figure(experiments), charts_dir / "failover.png")))
    for item in data.experiments:
        exp, series = item.experiment, item.series
        if series is None:
            continue
        key = item.key
        charts.append(Chart("timeline", f"{exp.name}: timeline",
                            _save(timeline_figure(exp, series), charts_dir / f"timeline-{key}.png"), key))
        charts.append(Chart("latency", f"{exp.name}: latency before / during / after",
                            _save(latency_figure(exp, series), charts_dir / f"latency-{key}.png"), key))
    return charts
