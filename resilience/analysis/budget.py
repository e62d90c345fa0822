"""What share of the period's error budget an experiment used (pure).

The budget comes from the scenario's availability objective and period (``resilience.slo.ErrorBudget``,
99.9 % over 30 days by default): the period may fail ``(1 - availability) x its requests``. The harness
counts the period's requests at the load's typical rate - the median requests per second over the
experiment's buckets, which a fault of less than half the experiment does not move - so

    share = failed / ((1 - availability) x rate x period_s)

and ``outage_s = failed / rate`` is the same use as seconds of full outage at that rate (99.9 % over 30
days allows 2,592 s). One failed request in 40 requests/s uses 1 / 103,680 of a 30-day budget.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from resilience.analysis.recovery import Sample
from resilience.slo import ErrorBudget

__all__ = ["BudgetUse", "budget_problem", "budget_use", "format_share"]


@dataclass(frozen=True)
class BudgetUse:
    """One experiment's use of the period's error budget."""

    availability: float
    period_days: float
    limit: float | None
    requests: int
    failed: int
    rate_rps: float
    """The load's typical rate the period's requests are counted at (median requests/s of the buckets)."""
    outage_s: float
    """The failures as seconds of full outage at ``rate_rps``."""
    share: float
    """Share of the period's budget used (1.0 = the whole period's budget)."""

    @property
    def over_limit(self) -> bool:
        """The share is above the scenario's limit (never without a limit)."""
        return self.limit is not None and self.share > self.limit

    def to_json(self) -> dict[str, Any]:
        """The ``error_budget`` object of an experiment in run.json."""
        return asdict(self)


def budget_use(
    samples: Sequence[Sample],
    budget: ErrorBudget,
    *,
    resolution_s: float,
    start: float | None = None,
    end: float | None = None,
) -> BudgetUse:
    """The budget ``samples`` between ``start`` and ``end`` used (no requests: none used)."""
    rows = [s for s in samples if (start is None or s.t + resolution_s > start) and (end is None or s.t < end)]
    requests = sum(s.throughput * resolution_s for s in rows)
    failed = sum(s.throughput * resolution_s * s.error_rate for s in rows)
    rate = statistics.median(s.throughput for s in rows) if rows else 0.0
    if rate <= 0 and rows:
        rate = requests / (len(rows) * resolution_s)
    outage_s = failed / rate if rate > 0 else 0.0
    allowed_s = (1.0 - budget.availability) * budget.period_s
    return BudgetUse(
        availability=budget.availability,
        period_days=budget.period_days,
        limit=budget.limit,
        requests=round(requests),
        failed=round(failed),
        rate_rps=round(rate, 3),
        outage_s=outage_s,
        share=outage_s / allowed_s,
    )


def format_share(share: float) -> str:
    """A share of the budget as a percentage with the digits that matter (0.0042 %, 1.3 %, 250 %)."""
    pct = share * 100
    if pct == 0:
        return "0 %"
    if pct >= 10:
        return f"{pct:.0f} %"
    if pct < 0.001:
        return "< 0.001 %"
    return f"{pct:.2g} %" if pct >= 0.01 else f"{pct:.3f} %".rstrip("0")


def budget_problem(use: BudgetUse) -> str | None:
    """The verdict's reason when the experiment used more than the scenario's limit (None: within it)."""
    if not use.over_limit:
        return None
    assert use.limit is not None
    return (
        f"used {format_share(use.share)} of the {use.period_days:g}-day error budget "
        f"({use.availability * 100:g} % availability; {use.failed} failed requests = {use.outage_s:.1f} s of "
        f"full outage), limit {format_share(use.limit)}"
    )
