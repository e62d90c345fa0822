"""Deploys in the report: one table row per deploy, and the timeline's marks of which release served when."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes

from resilience.report.model import Deploy, Experiment

__all__ = ["DeployRow", "deploy_lines", "deploy_rows"]


@dataclass(frozen=True)
class DeployRow:
    """One deploy as the tables show it (seconds from the deploy's start)."""

    experiment: str
    strategy: str
    release: str
    previous: str | None
    outcome: str
    expected: str | None
    rolled_back_by: str | None
    failed_requests: int
    peak_p95_ms: float | None
    slo_kept: bool
    """No window of the deploy broke the SLO."""
    switch_s: float | None
    """When the new release took all traffic."""
    rollback_s: float | None
    """Time to roll back: the first failed response to all traffic on the previous release."""
    duration_s: float

    @property
    def ok(self) -> bool:
        return (self.expected is None or self.outcome == self.expected) and (
            self.outcome == "rolled_back" or (self.failed_requests == 0 and self.slo_kept)
        )


def deploy_rows(experiments: Sequence[Experiment]) -> list[DeployRow]:
    """Every deploy of every experiment, in run order."""
    return [
        DeployRow(
            e.name,
            d.strategy,
            d.release,
            d.previous,
            d.outcome,
            d.expected,
            d.rolled_back_by,
            d.failed_requests,
            d.peak_p95_ms,
            not d.slo_broken,
            None if d.switched_at is None else d.switched_at - d.started,
            d.time_to_rollback_s,
            d.finished - d.started,
        )
        for e in experiments
        for d in e.deploys
    ]


def deploy_lines(axes: list[Axes], deploys: Sequence[Deploy], origin: float, color: str) -> None:
    """On each panel: a line where a deploy's new release took all traffic, and where a rollback put it all
    back on the previous release (labelled on the first panel)."""
    for d in deploys:
        for when, text, style in (
            (d.switched_at, f"all traffic on {d.release} ({d.strategy})", "-."),
            (d.rollback_finished, f"rolled back: all traffic on {d.previous}", (0, (1, 1))),
        ):
            if when is None:
                continue
            for i, ax in enumerate(axes):
                ax.axvline(when - origin, color=color, ls=style, lw=1.2, label=text if i == 0 else None)
