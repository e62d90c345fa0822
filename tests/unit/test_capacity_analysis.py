"""Capacity knee, early stop, intervals and headroom on synthetic curves with known answers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience.analysis.capacity import (
    StepResult,
    StepVerdict,
    clearly_breaks,
    find_knee,
    headroom,
    knee_interval,
    should_stop,
    slo_ratio,
    step_verdict,
)

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Slo:
    """Stands in for the scenario SLO model (only the three fields capacity reads)."""

    p95_ms: float | None = 100.0
    p99_ms: float | None = None
    error_rate: float | None = 0.001
    ws_connect_success: float | None = 0.99


SLO = Slo()
USERS = list(range(100, 1100, 100))


def step(users: int, p95: float, *, errors: float = 0.0, requests: int = 20_000, conn: float = 1.0) -> StepResult:
    return StepResult(
        users=users,
        p95_ms=p95,
        error_rate=errors,
        throughput=requests / 20,
        requests=requests,
        connect_success=conn,
        connects=users,
    )


def hockey_stick(users: int, knee_at: float) -> float:
    """p95 that is flat (~20 ms) until the system saturates, then climbs: 100 ms exactly at ``knee_at``."""
    return 20.0 + 80.0 * (users / knee_at) ** 6


def test_clean_hockey_stick_knee_is_last_step_under_the_limit() -> None:
    """A noise-free curve crossing 100 ms at 650 users gives the knee 600 and the break 700."""
    knee = find_knee([step(u, hockey_stick(u, 650)) for u in USERS], SLO)
    assert (knee.users, knee.break_users, knee.censored, knee.below_range) == (600, 700, False, False)


def test_step_exactly_at_the_limit_holds() -> None:
    """p95 equal to the limit still meets the SLO (the SLO is p95 < X, measured inclusively)."""
    knee = find_knee([step(u, hockey_stick(u, 500)) for u in USERS], SLO)
    assert knee.users == 500


def test_order_of_steps_does_not_matter() -> None:
    """Steps handed over in any order give the same knee."""
    steps = [step(u, hockey_stick(u, 650)) for u in USERS]
    assert find_knee(list(reversed(steps)), SLO).users == 600


def test_single_noisy_failure_between_passes_is_ignored() -> None:
    """One step slightly over the limit followed by clearly passing steps does not end capacity there."""
    p95 = {100: 20, 200: 22, 300: 110, 400: 70, 500: 80, 600: 300}
    knee = find_knee([step(u, v) for u, v in p95.items()], SLO)
    assert knee.users == 500


def test_failure_that_persists_is_a_break_despite_one_lucky_step() -> None:
    """A large failure followed by one barely-passing step is a real break: the knee stays before it."""
    p95 = {100: 20, 200: 22, 300: 160, 400: 95, 500: 200}
    knee = find_knee([step(u, v) for u, v in p95.items()], SLO)
    assert (knee.users, knee.break_users) == (200, 300)


@pytest.mark.parametrize("seed", range(20))
def test_noisy_hockey_stick_knee_within_one_step(seed: int) -> None:
    """With +-15% multiplicative noise on p95, the knee lands within one step of the true 600."""
    rng = np.random.default_rng(seed)
    steps = [step(u, hockey_stick(u, 650) * rng.uniform(0.85, 1.15)) for u in USERS]
    assert find_knee(steps, SLO).users in (500, 600, 700)


def test_error_rate_drives_the_knee_when_latency_is_fine() -> None:
    """An error rate above 0.1% from 800 users on gives the knee 700 even with low p95."""
    steps = [step(u, 30, errors=0.0 if u < 800 else 0.01) for u in USERS]
    assert find_knee(steps, SLO).users == 700


def test_connect_success_drives_the_knee() -> None:
    """Connect success falling under 99% from 400 users on gives the knee 300."""
    steps = [step(u, 30, conn=1.0 if u < 400 else 0.95) for u in USERS]
    assert find_knee(steps, SLO).users == 300


def test_no_failure_is_censored_at_the_highest_step() -> None:
    """When no step fails the knee is the highest step and flagged as a lower bound."""
    knee = find_knee([step(u, 30) for u in USERS], SLO)
    assert (knee.users, knee.break_users, knee.censored) == (1000, None, True)


def test_failure_at_the_lowest_step_is_below_range() -> None:
    """When the lowest step already fails the knee is 0 and flagged below range."""
    knee = find_knee([step(u, 500) for u in USERS[:3]], SLO)
    assert (knee.users, knee.break_users, knee.below_range) == (0, 100, True)


def test_step_without_requests_fails() -> None:
    """A step that measured nothing counts as broken (infinite ratio)."""
    empty = StepResult(users=300, p95_ms=None, error_rate=0.0, throughput=0.0, requests=0)
    assert math.isinf(slo_ratio(empty, SLO))
    assert step_verdict(empty, SLO) is StepVerdict.BROKEN
    assert find_knee([step(100, 20), step(200, 20), empty], SLO).users == 200


def test_p99_limit_is_judged_when_the_slo_has_one() -> None:
    """With p99 < 200 ms in the SLO, a step with p95 50 ms but p99 300 ms fails."""
    slow_tail = StepResult(users=100, p95_ms=50.0, p99_ms=300.0, error_rate=0.0, throughput=10.0, requests=1000)
    assert slo_ratio(slow_tail, Slo(p99_ms=200.0)) == pytest.approx(1.5)
    assert slo_ratio(slow_tail, SLO) == pytest.approx(0.5)


def test_unchecked_slo_fields_are_ignored() -> None:
    """An SLO without a p95 limit judges on errors and connects only."""
    assert slo_ratio(step(100, 10_000), Slo(p95_ms=None)) == 0.0


@given(st.lists(st.floats(0.05, 20.0), min_size=1, max_size=15))
def test_monotone_curve_knee_is_last_step_at_or_under_one(raw: list[float]) -> None:
    """For any monotone ratio curve the knee is exactly the last step with ratio <= 1."""
    ratios = sorted(raw)
    steps = [step(100 * (i + 1), 100.0 * r) for i, r in enumerate(ratios)]
    expected = max((s.users for s, r in zip(steps, ratios, strict=True) if r <= 1.0), default=0)
    assert find_knee(steps, SLO).users == expected


def test_find_knee_needs_steps() -> None:
    """An empty ladder is a programming error, not a knee of 0."""
    with pytest.raises(ValueError, match="at least one step"):
        find_knee([], SLO)


def test_clear_break_by_latency_factor() -> None:
    """p95 over twice the limit clearly breaks; 1.5x only fails."""
    assert clearly_breaks(step(100, 201), SLO)
    assert step_verdict(step(100, 150), SLO) is StepVerdict.FAILED
    assert step_verdict(step(100, 50), SLO) is StepVerdict.OK


def test_one_error_among_few_requests_is_not_a_clear_break() -> None:
    """1 error in 500 requests (0.2%) fails the 0.1% SLO but is not beyond doubt; 20 in 500 is."""
    assert step_verdict(step(100, 20, errors=1 / 500, requests=500), SLO) is StepVerdict.FAILED
    assert step_verdict(step(100, 20, errors=20 / 500, requests=500), SLO) is StepVerdict.BROKEN


def test_connect_failures_clear_break_uses_attempt_count() -> None:
    """Half the connects failing out of 100 attempts clearly breaks the 99% connect SLO."""
    assert clearly_breaks(step(100, 20, conn=0.5), SLO)
    assert not clearly_breaks(step(100, 20, conn=0.98), SLO)


def test_should_stop_after_clear_break() -> None:
    """The ladder stops right after a step that clearly breaks the SLO."""
    assert should_stop([step(100, 20), step(200, 250)], SLO)
    assert not should_stop([step(100, 20), step(200, 120)], SLO)


def test_should_stop_after_patience_failures_in_a_row() -> None:
    """Two failing steps in a row stop the ladder; failing then passing does not."""
    assert should_stop([step(100, 20), step(200, 120), step(300, 130)], SLO)
    assert not should_stop([step(100, 120), step(200, 90)], SLO)
    assert not should_stop([], SLO)


def test_t_interval_matches_the_textbook_formula() -> None:
    """Knees 400, 400, 450 give mean 416.7 and the 95% t-interval +-4.303 * 16.67."""
    ki = knee_interval([400, 400, 450])
    half = 4.302652729911275 * (np.std([400, 400, 450], ddof=1) / math.sqrt(3))
    assert ki.mean == pytest.approx(416.6667, abs=1e-3)
    assert ki.low == pytest.approx(ki.mean - half)
    assert ki.high == pytest.approx(ki.mean + half)
    assert (ki.n, ki.method, ki.confidence) == (3, "student-t", 0.95)


def test_t_interval_is_clipped_at_zero_users() -> None:
    """A wide interval never reports a negative number of users."""
    assert knee_interval([0, 0, 300]).low == 0.0


def test_single_repeat_has_no_interval_and_identical_repeats_a_point() -> None:
    """One repeat gives no interval; identical repeats give a zero-width one."""
    one = knee_interval([300])
    assert (one.low, one.high, one.n) == (None, None, 1)
    same = knee_interval([300, 300, 300])
    assert (same.low, same.high) == (300.0, 300.0)
    with pytest.raises(ValueError, match="at least one"):
        knee_interval([])


def test_headroom_against_ten_thousand_users() -> None:
    """A knee of 2,500 users is 7,500 short of 10,000 users (25% of target)."""
    room = headroom(knee_interval([2400, 2500, 2600]), 10_000)
    assert room.users == pytest.approx(-7500)
    assert room.ratio == pytest.approx(0.25)
    assert not room.meets


def test_headroom_meets_only_when_interval_low_end_reaches_target() -> None:
    """A mean over the target with an interval reaching under it does not count as meeting it."""
    assert not headroom(knee_interval([9000, 12_000, 13_000]), 10_000).meets
    assert headroom(knee_interval([12_000, 12_000, 12_500]), 10_000).meets
    with pytest.raises(ValueError, match="positive"):
        headroom(knee_interval([1]), 0)
