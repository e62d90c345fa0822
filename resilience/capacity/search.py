"""Where to measure next: a geometric search for the knee, bisected to a stated resolution. Pure, no I/O.

::

    grow    start, start*f, start*f^2, ...   until a step clearly breaks the SLO (or ``patience`` failing
                                             steps in a row at the top), or ``max`` held (a lower bound)
    shrink  start/f, start/f^2, ...          when the lowest step already fails, down to ``min``
    bisect  sqrt(knee * break)               the knee and the break come from the monotone fit of every
                                             step so far (``fit_knee``), until break <= knee * (1 + res)

A search is asked ``next_users(steps)`` after every step (the steps measured so far, in order) and
answers the users of the next step, or None with ``reason`` set. A step that is not *conclusive* (the
load generator was saturated) speaks neither for nor against the service: it is left out of the fit and
caps the search — no load that high again; without a conclusive break below it the search bisects
between the highest load that held and the cap, and ends (``generator``) with a lower bound within the
resolution of where the generator gave out.

``Judge`` says how a step stands: against the SLO, or — for a condition that breaks the SLO at any load
by design, a failover inside every window — by its time to recover against the condition's limit.
``LadderSearch`` runs the plan's fixed ladder through the same interface.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from resilience.analysis.capacity import Knee, StepResult, StepVerdict, clearly_breaks, fit_knee, slo_ratio
from resilience.slo import Slo

__all__ = ["GeometricSearch", "Judge", "LadderSearch", "Search", "SearchStop", "start_hint"]

SearchStop = Literal["clear-break", "patience", "resolved", "max-users", "min-users", "generator"]
"""Why a search ended by itself (the runner adds ``budget``, ``interrupted`` and ``error``)."""


@dataclass(frozen=True)
class Judge:
    """How one step stands: its ratio (<= 1 holds) and whether it breaks beyond doubt."""

    slo: Slo
    clear_factor: float = 2.0
    recovery_limit_s: float | None = None
    """Set for a condition that breaks the SLO by design: steps are judged on ``recovery_s`` against it."""

    def ratio(self, step: StepResult) -> float:
        if self.recovery_limit_s is None:
            return slo_ratio(step, self.slo)
        if step.recovery_s is None or step.requests <= 0:
            return math.inf
        return step.recovery_s / self.recovery_limit_s

    def clearly_breaks(self, step: StepResult) -> bool:
        if self.recovery_limit_s is None:
            return clearly_breaks(step, self.slo, clear_factor=self.clear_factor)
        return self.ratio(step) > self.clear_factor

    def verdict(self, step: StepResult) -> StepVerdict:
        if not step.conclusive:
            return StepVerdict.INCONCLUSIVE
        if self.clearly_breaks(step):
            return StepVerdict.BROKEN
        return StepVerdict.OK if self.ratio(step) <= 1.0 else StepVerdict.FAILED

    def knee(self, steps: Sequence[StepResult]) -> Knee | None:
        """The monotone-fit knee over the conclusive steps (None when there is none)."""
        points = [(s.users, self.ratio(s)) for s in steps if s.conclusive]
        return fit_knee(points) if points else None


class Search(Protocol):
    """Proposes the users of the next step from the steps measured so far."""

    reason: SearchStop | None

    def next_users(self, steps: Sequence[StepResult]) -> int | None: ...


def _top_failing(steps: Sequence[StepResult], judge: Judge, patience: int) -> bool:
    """The ``patience`` highest-users conclusive steps all fail."""
    top = sorted((s for s in steps if s.conclusive), key=lambda s: s.users)[-patience:]
    return len(top) == patience and all(judge.ratio(s) > 1.0 for s in top)


@dataclass
class GeometricSearch:
    """Grow geometrically until the SLO clearly breaks, then bisect to ``resolution`` (module docstring)."""

    judge: Judge
    start: int
    factor: float = 2.0
    resolution: float = 0.05
    """Stop once the first failing users are within this share above the knee (0.05: 5 %)."""
    min_users: int = 1
    max_users: int = 20_000
    patience: int = 2
    reason: SearchStop | None = field(default=None, init=False)

    def next_users(self, steps: Sequence[StepResult]) -> int | None:
        if not steps:
            return min(max(self.start, self.min_users), self.max_users)
        knee = self.judge.knee(steps)
        if knee is None:  # nothing conclusive, not even the first step: nothing to go on
            self.reason = "generator"
            return None
        tested = {s.users for s in steps}
        # the generator saturated at ``cap`` users: never measure that many again, search below it
        cap = min((s.users for s in steps if not s.conclusive), default=self.max_users + 1)
        grown_out = any(self.judge.clearly_breaks(s) for s in steps if s.conclusive) or _top_failing(
            steps, self.judge, self.patience
        )
        top = max(u for u in tested if u < cap) if any(u < cap for u in tested) else 0
        if knee.below_range and grown_out:
            return self._shrink(min(tested))
        if knee.break_users is not None and knee.break_users < cap and (grown_out or top >= self.max_users):
            return self._bisect(knee.users, knee.break_users, tested, "resolved")
        if cap <= self.max_users:  # no conclusive break below the saturated load: bisect up to it
            return self._bisect(knee.users, cap, tested, "generator")
        return self._grow(top)  # (also when a clear break was pooled away by later holds)

    def _grow(self, top: int) -> int | None:
        if top >= self.max_users:
            self.reason = "max-users"
            return None
        return min(self.max_users, max(top + 1, math.ceil(top * self.factor)))

    def _shrink(self, low: int) -> int | None:
        if low <= self.min_users:
            self.reason = "min-users"
            return None
        return max(self.min_users, min(low - 1, math.floor(low / self.factor)))

    def _bisect(self, lo: int, hi: int, tested: set[int], done: SearchStop) -> int | None:
        mid = round(math.sqrt(max(lo, 1) * hi))
        if hi <= lo * (1 + self.resolution) or not lo < mid < hi or mid in tested:
            self.reason = done
            return None
        return mid


@dataclass
class LadderSearch:
    """The plan's fixed ladder, stopped early after a clear break or ``patience`` failing steps in a row."""

    judge: Judge
    users: Sequence[int]
    patience: int = 2
    reason: SearchStop | None = field(default=None, init=False)

    def next_users(self, steps: Sequence[StepResult]) -> int | None:
        if steps and not steps[-1].conclusive:
            self.reason = "generator"
            return None
        if steps and self.judge.clearly_breaks(steps[-1]):
            self.reason = "clear-break"
            return None
        tail = steps[-self.patience :]
        if steps and len(tail) == self.patience and all(self.judge.ratio(s) > 1.0 for s in tail):
            self.reason = "patience"
            return None
        return self.users[len(steps)] if len(steps) < len(self.users) else None


def start_hint(knees: Sequence[int], bounds: Sequence[int], *, start: int, factor: float, min_users: int) -> int:
    """Where a later repeat starts: one factor below the median knee earlier repeats found; when none found
    one, at the best lower bound they held (a search cut by its budget share goes on from there)."""
    found = [k for k in knees if k > 0]
    if found:
        return max(min_users, math.floor(statistics.median(found) / factor))
    held = [b for b in bounds if b > 0]
    return max(start, *held) if held else start
