"""The alerts table (report.html, summary.md) and the alert bars' colours: one verdict per alert.

Each alert of an experiment's ``alerts`` (run.json) gets one verdict, the same words as the alerting part
of the runner's verdict (resilience/analysis/alerts.py):

    on time       expected, fired at or after the fault start, within its time
    late          expected, fired after its time
    leftover      expected, only firing since before the fault (no evidence it noticed this fault)
    missing       expected, did not fire
    not expected  fired, nobody expected it (listed, never a failure)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from resilience.report.model import Alert, Experiment

__all__ = ["GOOD", "AlertRow", "alert_rows", "alert_verdict"]

GOOD = frozenset({"on time", "not expected"})
"""Verdicts that are not a failure."""


def alert_verdict(alert: Alert) -> str:
    """One of the module doc's verdicts."""
    if not alert.expected:
        return "not expected"
    if alert.fired_s is None:
        return "missing"
    if alert.fired_s < 0:
        return "leftover"
    if alert.within_s is not None and alert.fired_s > alert.within_s:
        return "late"
    return "on time"


@dataclass(frozen=True)
class AlertRow:
    """One line of the alerts table."""

    experiment: str
    name: str
    expected: bool
    within_s: float | None
    fired_s: float | None
    resolved_s: float | None
    verdict: str

    @property
    def css(self) -> str:
        """``good`` / ``bad`` / ``none`` (not expected) for report.html."""
        if not self.expected:
            return "none"
        return "good" if self.verdict in GOOD else "bad"


def alert_rows(experiments: Sequence[Experiment]) -> list[AlertRow]:
    """Every alert of every experiment, in run order (expected ones first within an experiment)."""
    return [
        AlertRow(e.name, a.name, a.expected, a.within_s, a.fired_s, a.resolved_s, alert_verdict(a))
        for e in experiments
        for a in e.alerts
    ]
