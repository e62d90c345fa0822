"""Chart functions: each takes data and returns a ``matplotlib.figure.Figure`` on an Agg canvas.

Saving is separate (``save_figure``); nothing here touches pyplot or global state.
"""

from resilience.report.charts.failover import failover_figure, failover_segments
from resilience.report.charts.integrity import integrity_figure
from resilience.report.charts.latency import latency_figure
from resilience.report.charts.recovery import recovery_figure
from resilience.report.charts.style import save_figure
from resilience.report.charts.timeline import timeline_figure, timeline_marks

__all__ = [
    "failover_figure",
    "failover_segments",
    "integrity_figure",
    "latency_figure",
    "recovery_figure",
    "save_figure",
    "timeline_figure",
    "timeline_marks",
]
