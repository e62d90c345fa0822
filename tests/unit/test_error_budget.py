"""The error budget means one thing: a share of the period's budget of the scenario's availability objective.

Issue 17 part 4: a passed experiment showed "683 % error budget burnt" in red (failed requests over the
failures its own window allowed). Now the budget is (1 - availability) x the period's requests, each
experiment says what share of it it used, a scenario may set a limit that fails the experiment, and the
verdict, the table's colour and the summary agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from resilience.analysis.budget import budget_problem, budget_use, format_share
from resilience.analysis.recovery import Sample
from resilience.errors import ConfigError
from resilience.report.model import Experiment
from resilience.report.text import budget_class, budget_line, budget_total_line, budget_word
from resilience.rundoc import ErrorBudgetDoc
from resilience.runner.results import experiment_result
from resilience.scenario import load_scenario
from resilience.slo import ErrorBudget, Slo

pytestmark = pytest.mark.unit

T0 = 1_000.0
MONTH_S = 30 * 86400


def _samples(bad: set[int], *, n: int = 30, rps: float = 40.0, zero: set[int] = frozenset()) -> list[Sample]:  # type: ignore[assignment]
    """``n`` one-second buckets at ``rps``; half of the requests fail in ``bad``; no request in ``zero``."""
    return [
        Sample(t=T0 + i, throughput=0.0 if i in zero else rps, error_rate=0.5 if i in bad else 0.0, p95_ms=20.0)
        for i in range(n)
    ]


def test_default_objective_is_99_9_over_30_days() -> None:
    """99.9 % over 30 days: 2,592 s (43.2 min) of full outage, no limit unless the scenario sets one."""
    b = ErrorBudget()
    assert (b.availability, b.period_days, b.limit) == (0.999, 30.0, None)
    assert (1 - b.availability) * b.period_s == pytest.approx(2592.0)


def test_share_of_the_period_budget() -> None:
    """2 buckets of 40 req/s at 50 % errors: 40 failed = 1 s of full outage = 1/2592 of the month's budget."""
    use = budget_use(_samples({3, 4}), ErrorBudget(), resolution_s=1.0)
    assert (use.requests, use.failed, use.rate_rps) == (1200, 40, 40.0)
    assert use.outage_s == pytest.approx(1.0)
    assert use.share == pytest.approx(1 / 2592, rel=1e-6)
    assert not use.over_limit
    assert budget_problem(use) is None
    assert budget_use(_samples(set()), ErrorBudget(), resolution_s=1.0).share == 0.0


def test_rate_is_the_loads_typical_rate_not_the_faults() -> None:
    """A stall (no request completes for 5 s) does not change the rate the period is counted at."""
    use = budget_use(_samples({10}, zero={3, 4, 5, 6, 7}), ErrorBudget(), resolution_s=1.0)
    assert use.rate_rps == 40.0
    assert use.outage_s == pytest.approx(0.5)


def test_window_and_sub_second_buckets() -> None:
    """Only buckets in the window count; 0.1 s buckets give the same figures as 1 s buckets."""
    rows = [Sample(t=T0 + i / 10, throughput=40.0, error_rate=0.5 if 30 <= i < 50 else 0.0) for i in range(300)]
    fine = budget_use(rows, ErrorBudget(), resolution_s=0.1)
    assert fine.failed == 40
    assert fine.outage_s == pytest.approx(1.0)
    outside = budget_use(rows, ErrorBudget(), resolution_s=0.1, start=T0 + 10, end=T0 + 30)
    assert outside.failed == 0


def test_longer_period_and_stricter_objective() -> None:
    """99.99 % over 7 days allows 60.48 s: the same 1 s outage is 1.65 % of it."""
    use = budget_use(_samples({3, 4}), ErrorBudget(availability=0.9999, period_days=7), resolution_s=1.0)
    assert use.share == pytest.approx(1 / 60.48, rel=1e-6)


def test_limit_fails_the_experiment_with_a_reason() -> None:
    """Over the scenario's limit: the verdict fails and says by how much; within it: passed."""
    kw: dict[str, Any] = {
        "name": "pod-kill",
        "file": "experiments/pod-kill.yaml",
        "journal": {
            "status": "completed",
            "steady_states": {"before": {"steady_state_met": True}, "after": {"steady_state_met": True}},
            "run": [],
            "rollbacks": [],
        },
        "records": {"faults": [{"event": "start", "t": T0 + 3}, {"event": "end", "t": T0 + 3}], "markers": []},
        "samples": _samples({3, 4}),
        "resolution_s": 1.0,
        "slo": Slo(p95_ms=100, error_rate=0.001),
        "slo_json": {},
        "stabilisation_s": 5,
        "recovery_target_s": 15,
        "started": T0,
        "ended": T0 + 30,
        "integrity": None,
        "interrupted_by": None,
    }
    plain = experiment_result(**kw)
    assert plain["verdict"] == "passed"
    assert plain["error_budget"]["share"] == pytest.approx(1 / 2592, rel=1e-6)
    assert plain["error_budget"]["limit"] is None
    within = experiment_result(**kw, error_budget=ErrorBudget(limit=0.001))  # 0.1 % = 2.6 s
    assert within["verdict"] == "passed"
    over = experiment_result(**kw, error_budget=ErrorBudget(limit=0.0001))  # 0.01 % = 0.26 s
    assert over["verdict"] == "failed"
    assert over["reasons"] == [
        "used 0.039 % of the 30-day error budget (99.9 % availability; 40 failed requests = 1.0 s of full "
        "outage), limit 0.01 %"
    ]


def _experiment(verdict: str, share: float, limit: float | None) -> Experiment:
    doc = ErrorBudgetDoc(
        availability=0.999,
        period_days=30,
        limit=limit,
        requests=1200,
        failed=round(share * 2592 * 40),
        rate_rps=40.0,
        outage_s=share * 2592,
        share=share,
    )
    return Experiment(name=f"e-{verdict}-{share}", verdict=verdict, error_budget=doc)


def test_colour_agrees_with_the_verdict() -> None:
    """Red only over the limit (where the verdict failed); a passed experiment's share is never red."""
    passed = _experiment("passed", 1 / 2592, None)
    assert (budget_word(passed), budget_class(passed)) == ("0.039 %", "")
    assert "no limit set" in budget_line(passed)
    assert "99.9 % over 30 days = 43.2 min of full outage" in budget_line(passed)
    failed = _experiment("failed", 0.02, 0.01)
    assert (budget_word(failed), budget_class(failed)) == ("2 %", "bad")
    assert budget_class(_experiment("passed", 0.005, 0.01)) == ""
    old = Experiment(name="old", verdict="passed")
    assert (budget_word(old), budget_class(old), budget_line(old)) == ("—", "", "—")


def test_run_total_in_the_summary() -> None:
    """The summary adds the experiments' shares and names the ones over the limit."""
    line = budget_total_line([_experiment("passed", 0.001, 0.01), _experiment("failed", 0.02, 0.01)])
    assert line is not None
    assert "the experiments used 2.1 % of it (54.4 s of full outage)" in line
    assert line.endswith("over the limit: e-failed-0.02.")
    assert budget_total_line([Experiment(name="old", verdict="passed")]) is None


@pytest.mark.parametrize(
    ("share", "text"),
    [(0, "0 %"), (2.5, "250 %"), (0.013, "1.3 %"), (0.0001, "0.01 %"), (0.00004, "0.004 %"), (1e-7, "< 0.001 %")],
)
def test_format_share(share: float, text: str) -> None:
    """Shares print with the digits that matter."""
    assert format_share(share) == text


def _scenario(tmp_path: Path, budget: str) -> Path:
    experiment = Path(__file__).resolve().parents[2] / "experiments" / "pod-kill.yaml"
    path = tmp_path / "s.yaml"
    path.write_text(
        f"name: x\nerror_budget: {budget}\nexperiments:\n  - name: a\n    file: {experiment}\n"
        "    recovery_target_s: 10\n"
    )
    return path


def test_scenario_error_budget(tmp_path: Path) -> None:
    """A scenario states its objective, period and limit; a bad value is one line naming file, line and field."""
    loaded = load_scenario(_scenario(tmp_path, "{availability: 0.9995, period_days: 28, limit: 0.02}"))
    assert loaded.scenario.error_budget == ErrorBudget(availability=0.9995, period_days=28, limit=0.02)
    with pytest.raises(ConfigError, match=r"s\.yaml:2: error_budget\.availability: .*less than 1"):
        load_scenario(_scenario(tmp_path, "{availability: 1.5}"))
    with pytest.raises(ConfigError, match=r"s\.yaml:2: error_budget\.burn: unknown field"):
        load_scenario(_scenario(tmp_path, "{burn: 3}"))
