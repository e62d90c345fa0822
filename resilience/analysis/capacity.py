"""Capacity knee: the most users at which the SLO still holds. Pure computation, no I/O.

A capacity run steps the load up and measures each step (``StepResult``). Each step gets an *SLO
ratio*: the worst of ``p95 / p95 limit`` (and ``p99 / p99 limit`` when the SLO has one), ``error rate /
error-rate limit`` and ``connect failures / allowed connect failures`` — below 1 the SLO holds, above 1
it is broken. (A throughput floor is not judged: it does not scale with users.)

Knee (``find_knee``): measured ratios are noisy (one slow step between good ones), so the knee is not
"the step before the first failure". Instead a monotone non-decreasing curve is fitted to the log
ratios over users by isotonic regression (``scipy.optimize.isotonic_regression``, pool adjacent
violators): a failing step followed by passing ones is averaged with them (geometric mean), a real
break stays a break. The knee is the largest step whose fitted ratio is <= 1. If no step fails, the knee
is *censored* (a lower bound: capacity was not reached); if the first step fails, it is *below range* (0).

Early stop (``should_stop``): a step *clearly breaks* the SLO when its p95 exceeds ``clear_factor`` x
the limit, when the lower end of the 95% Wilson interval of its error rate (or connect-failure rate)
exceeds the limit — so one error among few requests is not "clear" — or when it measured nothing.
A condition stops after a clear break or after ``patience`` failing steps in a row.

Repeats (``knee_interval``): the knee over repeats with a two-sided Student-t interval
(``scipy.stats.t``): capacity runs have 2-5 repeats, too few for a bootstrap (3 values give 10
distinct resamples and the percentile interval undercovers badly). One repeat: no interval.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats
from scipy.optimize import isotonic_regression

from resilience.slo import Slo

__all__ = [
    "DEFAULT_CLEAR_FACTOR",
    "DEFAULT_PATIENCE",
    "Headroom",
    "Knee",
    "KneeInterval",
    "StepResult",
    "StepVerdict",
    "clearly_breaks",
    "find_knee",
    "fit_knee",
    "headroom",
    "knee_interval",
    "should_stop",
    "slo_ratio",
    "step_verdict",
]

DEFAULT_CLEAR_FACTOR = 2.0
"""A step whose p95 is more than this many times the limit clearly breaks the SLO."""
DEFAULT_PATIENCE = 2
"""Stop a condition after this many failing steps in a row, even if none broke clearly."""
_RATIO_FLOOR, _RATIO_CEIL = 1e-3, 1e3
"""Ratios are clipped to this range before the log fit (no data -> the ceiling)."""
_WILSON_CONFIDENCE = 0.95


@dataclass(frozen=True)
class StepResult:
    """What one load step measured over its hold window (after warm-up)."""

    users: int
    p95_ms: float | None
    """None when no request completed in the window."""
    error_rate: float
    """Failed / all requests and sends in the window, 0..1."""
    throughput: float
    """Completed requests per second."""
    requests: int
    connect_success: float | None = None
    """Successful / attempted WebSocket connects, 0..1; None when none was attempted."""
    connects: int = 0
    """WebSocket connect attempts in the window."""
    p50_ms: float | None = None
    p99_ms: float | None = None
    started: float | None = None
    """Epoch seconds of the measurement window."""
    ended: float | None = None
    conclusive: bool = True
    """False when the step cannot speak for the service (e.g. the load generator was saturated)."""
    inconclusive_reason: str | None = None
    generator: dict[str, Any] | None = None
    """The load generator's health over the window (``GeneratorHealth.to_json()``); None: not measured."""
    recovery_s: float | None = None
    """Seconds from a disruption inside the window (a failover) until the SLO held again; None: not
    recovered within the window, or no disruption."""


class StepVerdict(enum.StrEnum):
    """How a single step stands against the SLO."""

    OK = "ok"
    FAILED = "failed"
    """Over the limit, but not clearly (may be noise)."""
    BROKEN = "broken"
    """Clearly over the limit: the condition stops here."""
    INCONCLUSIVE = "inconclusive"
    """The step cannot speak for the service (the load generator was saturated): left out of the knee."""


def _rate_ratio(value: float, limit: float) -> float:
    if limit <= 0:
        return 0.0 if value <= 0 else math.inf
    return value / limit


def slo_ratio(step: StepResult, slo: Slo) -> float:
    """The worst of the step's SLO ratios (<= 1: the SLO holds); inf when the step measured nothing."""
    if step.requests <= 0 or step.p95_ms is None:
        return math.inf
    ratios = [0.0]
    if slo.p95_ms is not None:
        ratios.append(_rate_ratio(step.p95_ms, slo.p95_ms))
    if slo.p99_ms is not None and step.p99_ms is not None:
        ratios.append(_rate_ratio(step.p99_ms, slo.p99_ms))
    if slo.error_rate is not None:
        ratios.append(_rate_ratio(step.error_rate, slo.error_rate))
    if slo.ws_connect_success is not None and step.connect_success is not None:
        ratios.append(_rate_ratio(1.0 - step.connect_success, 1.0 - slo.ws_connect_success))
    return max(ratios)


def _wilson_low(rate: float, n: int) -> float:
    """Lower end of the Wilson interval of a proportion measured as ``rate`` over ``n`` trials."""
    if n <= 0 or rate <= 0:
        return 0.0
    k = round(rate * n)
    return float(stats.binomtest(k, n).proportion_ci(_WILSON_CONFIDENCE, method="wilson").low)


def clearly_breaks(step: StepResult, slo: Slo, *, clear_factor: float = DEFAULT_CLEAR_FACTOR) -> bool:
    """Whether the step breaks the SLO beyond doubt (see the module docstring)."""
    if step.requests <= 0 or step.p95_ms is None:
        return True
    if slo.p95_ms is not None and step.p95_ms > clear_factor * slo.p95_ms:
        return True
    if slo.error_rate is not None and _wilson_low(step.error_rate, step.requests) > slo.error_rate:
        return True
    if slo.ws_connect_success is not None and step.connect_success is not None:
        allowed = 1.0 - slo.ws_connect_success
        return _wilson_low(1.0 - step.connect_success, step.connects) > allowed
    return False


def step_verdict(step: StepResult, slo: Slo, *, clear_factor: float = DEFAULT_CLEAR_FACTOR) -> StepVerdict:
    """OK, failed (over the limit) or broken (clearly over it) for one step."""
    if clearly_breaks(step, slo, clear_factor=clear_factor):
        return StepVerdict.BROKEN
    return StepVerdict.OK if slo_ratio(step, slo) <= 1.0 else StepVerdict.FAILED


def should_stop(
    steps: Sequence[StepResult],
    slo: Slo,
    *,
    clear_factor: float = DEFAULT_CLEAR_FACTOR,
    patience: int = DEFAULT_PATIENCE,
) -> bool:
    """Whether a condition should stop stepping up after these steps (in the order they ran)."""
    if not steps:
        return False
    if clearly_breaks(steps[-1], slo, clear_factor=clear_factor):
        return True
    tail = steps[-patience:]
    return len(tail) == patience and all(slo_ratio(s, slo) > 1.0 for s in tail)


@dataclass(frozen=True)
class Knee:
    """The knee of one repeat of one condition."""

    users: int
    """Most users at which the (fitted) SLO holds; 0 when it fails at the lowest step."""
    break_users: int | None
    """Fewest users at which it fails; None when no step failed (censored)."""
    censored: bool
    """No step failed: ``users`` is a lower bound on capacity."""
    below_range: bool
    """The lowest step already failed: capacity is below the measured range."""
    fitted_ratios: tuple[float, ...]
    """The monotone fit of the SLO ratio, one per step in ascending users."""


def find_knee(steps: Sequence[StepResult], slo: Slo) -> Knee:
    """The knee of one stepped run (steps in any order; duplicate users are fitted as they come)."""
    return fit_knee([(s.users, slo_ratio(s, slo)) for s in steps])


def fit_knee(points: Sequence[tuple[int, float]]) -> Knee:
    """The knee from (users, SLO ratio) points, any order: the monotone fit described in the module doc."""
    if not points:
        raise ValueError("find_knee needs at least one step")
    ordered = sorted(points, key=lambda p: p[0])
    ratios = np.clip([r for _, r in ordered], _RATIO_FLOOR, _RATIO_CEIL)
    fitted = np.exp(isotonic_regression(np.log(ratios), increasing=True).x)
    holding = [u for (u, _), r in zip(ordered, fitted, strict=True) if r <= 1.0 + 1e-9]
    failing = [u for (u, _), r in zip(ordered, fitted, strict=True) if r > 1.0 + 1e-9]
    return Knee(
        users=max(holding, default=0),
        break_users=min(failing, default=None),
        censored=not failing,
        below_range=not holding,
        fitted_ratios=tuple(float(r) for r in fitted),
    )


@dataclass(frozen=True)
class KneeInterval:
    """The knee over repeats: mean and a Student-t confidence interval."""

    mean: float
    low: float | None
    """None with fewer than two repeats."""
    high: float | None
    n: int
    confidence: float
    method: str = "student-t"


def knee_interval(values: Sequence[float], *, confidence: float = 0.95) -> KneeInterval:
    """Mean knee over repeats with a two-sided Student-t interval, clipped at 0 users."""
    if not values:
        raise ValueError("knee_interval needs at least one value")
    data = np.asarray(values, dtype=float)
    mean = float(data.mean())
    if len(data) < 2:
        return KneeInterval(mean=mean, low=None, high=None, n=1, confidence=confidence)
    sem = float(stats.sem(data))
    if sem == 0.0:
        low, high = mean, mean
    else:
        low, high = (float(x) for x in stats.t.interval(confidence, df=len(data) - 1, loc=mean, scale=sem))
    return KneeInterval(mean=mean, low=max(low, 0.0), high=high, n=len(data), confidence=confidence)


@dataclass(frozen=True)
class Headroom:
    """Capacity against the users the service must serve."""

    target_users: int
    users: float
    """Knee minus target: negative means short of the target."""
    ratio: float
    """Knee / target (1.0 = exactly the target)."""
    meets: bool
    """The knee (the interval's low end when there is one) reaches the target."""


def headroom(knee: KneeInterval, target_users: int) -> Headroom:
    """Headroom of a knee estimate against ``target_users``."""
    if target_users <= 0:
        raise ValueError(f"target_users must be positive, got {target_users}")
    floor = knee.low if knee.low is not None else knee.mean
    return Headroom(
        target_users=target_users,
        users=knee.mean - target_users,
        ratio=knee.mean / target_users,
        meets=floor >= target_users,
    )
