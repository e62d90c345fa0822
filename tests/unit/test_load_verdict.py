"""`resilience load` judges what it measured against the SLO with the game day's rule (one window)."""

from __future__ import annotations

import pytest

from resilience.analysis.recovery import judge_window
from resilience.analysis.samples import samples_of
from resilience.cli import main
from resilience.load.events import Kind, Raw
from resilience.slo import Slo

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0


def _events(*, requests: int, failed: int, slow_ms: float, connects: int, connect_failed: int) -> list[Raw]:
    """``requests`` acks over 10 s (the last ``failed`` timed out, every fifth one ``slow_ms``) and connects."""
    out: list[Raw] = []
    for i in range(requests):
        ok = i < requests - failed
        out.append((T0 + 10 * i / requests, Kind.ACK, int(ok), 0, slow_ms if i % 5 == 0 else 20.0))
    for i in range(connects):
        out.append((T0 + 10 * i / connects, Kind.WS_CONNECT, int(i >= connect_failed), 0, 15.0))
    return out


def _judge(records: list[Raw], slo: Slo | None = None) -> tuple[bool, tuple[str, ...]]:
    samples = samples_of(records, start=T0, end=T0 + 10, resolution_s=10)
    verdict = judge_window(samples, slo or Slo(), resolution_s=10)
    return verdict.holds, verdict.reasons


def test_broken_run_fails_naming_each_objective_with_its_value() -> None:
    """The new user's run (errors 43%, p95 1.38 s, connect success 47%) fails on all three default objectives."""
    holds, reasons = _judge(_events(requests=1000, failed=431, slow_ms=1380.0, connects=1500, connect_failed=800))
    assert not holds
    assert reasons == (
        "p95_ms 1380.0 ms > 100 ms",
        "error_rate 43.10% > 0.10%",
        "ws_connect_success 46.67% < 99.00%",
    )


def test_healthy_run_holds() -> None:
    """A run within every default objective holds and gives no reason."""
    holds, reasons = _judge(_events(requests=1000, failed=1, slow_ms=60.0, connects=100, connect_failed=0))
    assert holds and reasons == ()


def test_one_error_too_many_fails_on_errors_alone() -> None:
    """0.2% errors break the 0.1% objective; latency and connects are fine."""
    holds, reasons = _judge(_events(requests=1000, failed=2, slow_ms=60.0, connects=100, connect_failed=0))
    assert not holds and reasons == ("error_rate 0.20% > 0.10%",)


def test_scenario_slo_replaces_the_defaults() -> None:
    """The scenario's p95 limit is the one judged; an objective set to None is not judged."""
    records = _events(requests=1000, failed=0, slow_ms=300.0, connects=100, connect_failed=0)
    assert _judge(records, Slo(p95_ms=250))[1] == ("p95_ms 300.0 ms > 250 ms",)
    assert _judge(records, Slo(p95_ms=None))[0]


def test_no_requests_is_not_a_pass() -> None:
    """A load that measured no request does not hold: nothing was measured."""
    holds, reasons = _judge(_events(requests=0, failed=0, slow_ms=0, connects=10, connect_failed=0))
    assert not holds and reasons == ("no requests",)


@pytest.mark.parametrize(
    ("flag", "needle"),
    [
        ("p95", "--slo p95: expected KEY=VALUE"),
        ("p95_millis=3", "slo: p95_millis: Extra inputs are not permitted"),
        ("error_rate=2", "slo: error_rate: Input should be less than or equal to 1"),
    ],
)
def test_bad_slo_flag_is_one_line_exit_3(flag: str, needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed or unknown --slo objective stops before anything starts, naming it."""
    assert main(["load", "--chat-url", "http://127.0.0.1:9", "--slo", flag]) == 3
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
