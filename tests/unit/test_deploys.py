"""Deploy analysis (Argo Rollouts semantics), the deploy figures and reasons, HAProxy's stat parsing: pure."""

from __future__ import annotations

import time

import pytest

from resilience.analysis.deploys import deploy_reasons, summarise_deploy, train_figures
from resilience.analysis.recovery import Sample
from resilience.errors import ConfigError
from resilience.slo import Slo
from resilience.targets.analysis import DEFAULT_TEMPLATE, evaluate, parse_duration, parse_template
from resilience.targets.local.lb import parse_show_stat

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("condition", "result", "expected"),
    [
        ("result[0] <= 0.01", [0.01], True),
        ("result[0] <= 0.01", [0.2], False),
        ("result[0] < 0.25 && result[0] >= 0", [0.1], True),
        ("result[0] > 1 || result[1] == 2", [0.0, 2.0], True),
        ("not result[0] > -1", [0.0], False),
    ],
)
def test_success_condition_is_evaluated_on_the_result(condition: str, result: list[float], expected: bool) -> None:
    """Comparisons of result[i] with numbers, and/or/not (and Argo's &&/||), evaluate as written."""
    assert evaluate(condition, result) is expected


@pytest.mark.parametrize("condition", ["__import__('os')", "result.real > 0", "result[0] + 1", "open('x')"])
def test_anything_else_in_a_success_condition_is_refused(condition: str) -> None:
    """A condition is data, never code: calls, attributes and arithmetic are refused at load time."""
    metric = DEFAULT_TEMPLATE.metrics[0].model_dump(by_alias=True)
    with pytest.raises(ConfigError, match=r"analysis\.metrics\.0\.successCondition"):
        parse_template({"metrics": [{**metric, "successCondition": condition}]}, "x.yaml")


def test_template_uses_argo_names_and_durations() -> None:
    """interval as a duration, count, failureLimit, successCondition: Argo Rollouts' fields and meanings."""
    t = parse_template(
        {
            "metrics": [
                {
                    "name": "e",
                    "query": "q",
                    "interval": "500ms",
                    "count": 3,
                    "failureLimit": 0,
                    "successCondition": "result[0] < 1",
                }
            ]
        },
        "x.yaml",
    )
    (m,) = t.metrics
    assert (m.interval, m.count, m.failure_limit, m.consecutive_error_limit) == (0.5, 3, 0, 4)
    assert parse_duration("1m") == 60.0
    assert parse_template(None, "x") is DEFAULT_TEMPLATE
    with pytest.raises(ConfigError, match=r"analysis\.metrics\.0\.failureLimit"):
        parse_template(
            {"metrics": [{"name": "e", "query": "q", "failureLimit": -1, "successCondition": "result[0] < 1"}]}, "x"
        )


def _record(**kw: object) -> dict[str, object]:
    base = {"strategy": "rolling", "release": "bad-errors", "previous": "good", "started": 100.0, "finished": 120.0}
    return {**base, **kw}


def test_rollback_time_runs_from_the_first_failed_response_to_all_traffic_back() -> None:
    """Failed requests count inside the deploy; time to roll back starts at the first failed bucket."""
    samples = [Sample(t=100.0 + i, throughput=10.0, error_rate=0.3 if 104 <= 100 + i < 110 else 0.0) for i in range(30)]
    d = summarise_deploy(
        _record(outcome="rolled_back", rolled_back_by="system", rollback_finished=112.5, expected="rolled_back"),
        samples,
        resolution_s=1.0,
    )
    assert d["first_failure"] == 104.0
    assert d["time_to_rollback_s"] == 8.5
    assert d["failed_requests"] == 18
    assert deploy_reasons([d], recovery_target_s=30) == []
    assert deploy_reasons([d], recovery_target_s=5) == ["deploy of bad-errors: rolled back in 8.5 s, target 5 s"]


def test_good_deploy_with_a_failed_request_or_an_unexpected_outcome_fails() -> None:
    """0 failed requests is the bar for a completed deploy; an outcome other than expected is a failure."""
    samples = [Sample(t=110.0, throughput=10.0, error_rate=0.1)]
    good = summarise_deploy(
        _record(release="good", outcome="completed", expected="completed"), samples, resolution_s=1.0
    )
    assert deploy_reasons([good], 30) == ["deploy of good: 1 failed request(s), expected 0"]
    missed = summarise_deploy(_record(outcome="completed", expected="rolled_back"), [], resolution_s=1.0)
    assert deploy_reasons([missed], 30) == ["deploy of bad-errors: completed, expected rolled_back"]
    assert train_figures([good, missed]) == {
        "deploys": 2,
        "change_failure_rate": 0.0,
        "failed_requests_per_deploy": [1, 0],
        "failed_requests_mean": 0.5,
    }


def test_a_completed_or_halted_deploy_that_broke_the_slo_in_one_window_fails() -> None:
    """0 failed requests is not enough: p95 over the SLO in one window of the deploy's span fails it; the
    windows outside the span, and a rollback's (expected to break it), do not."""
    slow = (97, 112, 121)  # before, inside and after the deploy's span (100-120)
    samples = [Sample(t=95.0 + i, throughput=20.0, p95_ms=950.0 if 95 + i in slow else 8.0) for i in range(30)]
    good = summarise_deploy(
        _record(release="good", outcome="completed", expected="completed"), samples, resolution_s=1.0, slo=Slo()
    )
    assert good["slo_broken"] == ["+12.0 s: p95_ms 950.0 ms > 100 ms"]
    assert good["peak_p95_ms"] == 950.0
    assert deploy_reasons([good], 30) == [
        "deploy of good: completed, but the SLO broke during it at +12.0 s: p95_ms 950.0 ms > 100 ms"
    ]
    halted = summarise_deploy(_record(outcome="halted", expected="halted"), samples, resolution_s=1.0, slo=Slo())
    assert deploy_reasons([halted], 30) == [
        "deploy of bad-errors: halted, but the SLO broke during it at +12.0 s: p95_ms 950.0 ms > 100 ms"
    ]
    rolled = summarise_deploy(
        _record(outcome="rolled_back", rolled_back_by="system", rollback_finished=115.0, expected="rolled_back"),
        samples,
        resolution_s=1.0,
        slo=Slo(),
    )
    assert deploy_reasons([rolled], 30) == []
    quiet = [Sample(t=95.0 + i, throughput=20.0, p95_ms=8.0) for i in range(30)]
    ok = summarise_deploy(_record(release="good", outcome="completed"), quiet, resolution_s=1.0, slo=Slo())
    assert ok["slo_broken"] == [] and deploy_reasons([ok], 30) == []


def test_show_stat_rows_of_the_chat_backend() -> None:
    """HAProxy's ``show stat`` CSV -> the chat backend's servers with their status and sessions."""
    text = (
        "# pxname,svname,qcur,qmax,scur,status\nchat,FRONTEND,,,3,OPEN\nchat,chat-1,0,0,2,UP\n"
        "chat,chat-4,0,0,0,MAINT\npostgres-rw,pg-1,0,0,1,UP\n"
    )
    rows = parse_show_stat(text)
    assert sorted(rows) == ["chat-1", "chat-4"]
    assert (rows["chat-1"]["status"], rows["chat-1"]["scur"]) == ("UP", "2")


def test_a_rolling_step_waits_for_measurements_with_data() -> None:
    """Measurements without data (the new replica's series not in Prometheus yet) do not let a rolling deploy
    move on; a metric with too little data is not waited for, once late, if another one has enough (a later step
    of a deploy waited 13 s for a second point of sparse REST latency: a 34.6 s deploy in a game day)."""
    from resilience.targets.analysis import AnalysisRun, Measurement  # noqa: PLC0415

    run = AnalysisRun(DEFAULT_TEMPLATE, "http://127.0.0.1:9", lambda: "")
    t0 = time.time()

    def add(metric: str, at: float, value: float | None) -> None:
        phase = "Successful" if value is not None else "Inconclusive"
        run.measurements.append(Measurement(metric=metric, at=at, value=value, phase=phase))

    for i in range(3):
        add("error-rate", t0 + i, None)
        add("p95-latency", t0 + i, 0.01)
    assert not run.judged_since(t0 - 1, 2)
    add("error-rate", t0 + 4, 0.0)
    add("error-rate", t0 + 5, 0.0)
    assert run.judged_since(t0 - 1, 2)
    fresh = AnalysisRun(DEFAULT_TEMPLATE, "http://127.0.0.1:9", lambda: "")
    fresh.measurements += [Measurement(metric="error-rate", at=t0 + i, value=0.0, phase="Successful") for i in (1, 2)]
    assert fresh.judged_since(t0, 2, no_data_after_s=0)  # p95 had no data at all: not waited for
    assert not fresh.judged_since(t0, 2, no_data_after_s=1e12)
    fresh.measurements.append(Measurement(metric="p95-latency", at=t0 + 1, value=0.01, phase="Successful"))
    assert fresh.judged_since(t0, 2, no_data_after_s=0)  # one point of sparse REST latency: not waited for either
    assert not fresh.judged_since(t0, 2, no_data_after_s=1e12)
    sparse = AnalysisRun(DEFAULT_TEMPLATE, "http://127.0.0.1:9", lambda: "")
    sparse.measurements += [
        Measurement(metric=m, at=t0 + 1, value=0.0, phase="Successful") for m in ("error-rate", "p95-latency")
    ]
    assert not sparse.judged_since(t0, 2, no_data_after_s=0)  # no metric has 2 yet


def test_p95_is_judged_only_over_enough_requests() -> None:
    """The default p95 query has no result below ``P95_MIN_REQUESTS`` sends in its window, and a query without a
    result is an Inconclusive measurement (Argo's phase): neither a success nor a failure of the release."""
    from resilience.targets.analysis import P95_MIN_REQUESTS, AnalysisRun  # noqa: PLC0415

    (p95,) = [m for m in DEFAULT_TEMPLATE.metrics if m.name == "p95-latency"]
    assert p95.query.endswith(f">= {P95_MIN_REQUESTS})")
    assert p95.query.count("{{args.selector}}") == 2  # the count is the new release's requests too
    run = AnalysisRun(DEFAULT_TEMPLATE, "http://127.0.0.1:9", lambda: 'job="chat-api"')
    run._query = lambda _q: float("nan")  # type: ignore[method-assign]  # no result: no network in a unit test
    measured = run._measure(p95)
    assert (measured.phase, measured.value) == ("Inconclusive", None)
    run._query = lambda _q: 1.5  # type: ignore[method-assign]
    assert run._measure(p95).phase == "Failed"
