"""`resilience load` refuses bad input and a missing target with one line and the documented exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.cli import main

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["--users", "0"], 3, "users: Input should be greater than or equal to 1 (got 0)"),
        (["--profile", "zigzag"], 3, "'zigzag' is not one of"),
        (["--rest-share", "2"], 3, "rest_share: Input should be less than or equal to 1"),
        (["--chat-url", "http://127.0.0.1:9"], 3, "--chat-url needs --issuer-secret-file"),
        (
            ["--chat-url", "http://127.0.0.1:9", "--issuer-secret-file", "/nonexistent/secret"],
            3,
            "--issuer-secret-file /nonexistent/secret: No such file or directory",
        ),
    ],
)
def test_bad_input_is_one_line_exit_3(
    argv: list[str], code: int, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad flags and values stop before anything starts, naming the field and value."""
    assert main(["load", *argv]) == code
    err = capsys.readouterr().err.strip()
    assert needle in err
    assert len(err.splitlines()) == 1


def test_bad_params_file_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A params file with an unknown profile option is refused, naming the file and the option."""
    params = tmp_path / "load.yaml"
    params.write_text("load:\n  profile: ramp\n  profile_options: {steps: 3}\n")
    assert main(["load", "--params", str(params)]) == 3
    err = capsys.readouterr().err.strip()
    assert f"{params}: profile_options.steps is not an option of 'ramp'" in err


def test_no_running_local_target_is_a_target_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --chat-url and without a running local stack the command says how to start one (exit 2)."""
    assert main(["load", "--state-dir", str(tmp_path / "state"), "--duration", "1"]) == 2
    assert "the local target is not running: start it with `resilience up`" in capsys.readouterr().err


def test_where_the_load_goes_keeps_secrets_out_of_its_repr() -> None:
    """The issuer secret and the database URL (with its password) never show in the repr."""
    from resilience.commands.load import _Where  # noqa: PLC0415 - private class, imported for this test only

    text = repr(_Where("http://chat", "issuer-Secret-xyz", "postgresql://u:pw-Secret@h/db", "local"))
    assert "issuer-Secret-xyz" not in text and "pw-Secret" not in text and "http://chat" in text


def test_a_steady_load_is_judged_from_when_its_users_were_open_for_the_duration() -> None:
    """The held window starts at the first bucket with 99 % of the users open (the ramp is a warm-up: a
    10,000-user ramp saturated the generator and put p95 at 584 ms over the whole run, 15-20 ms once held), lasts
    the duration, and ends at the run's end at the latest; users never all open: no held window (judged whole)."""
    from resilience.commands.load import held_window  # noqa: PLC0415

    rows = [{"t": 100.0 + i, "ws_open": min(100 * i, 1000)} for i in range(30)]
    assert held_window(rows, 1000, hold_s=15.0, ended=140.0) == (110.0, 125.0)
    assert held_window(rows, 1000, hold_s=60.0, ended=140.0) == (110.0, 140.0)
    assert held_window(rows, 1010, hold_s=15.0, ended=140.0) == (110.0, 125.0)  # 99 %
    assert held_window(rows, 5000, hold_s=15.0, ended=140.0) is None
    assert held_window([], 10, hold_s=15.0, ended=120.0) is None


def test_connects_that_failed_in_the_ramp_fail_the_run_once() -> None:
    """The held window judges latency and errors; connect success is judged over the whole run (the ramp's
    connects); a reason both judge (no ramp: the same window) is given once."""
    from resilience.analysis.recovery import SloVerdict  # noqa: PLC0415
    from resilience.commands.load import slo_reasons  # noqa: PLC0415

    held_ok = SloVerdict(True, (), 100)
    ramp_bad = SloVerdict(False, ("ws_connect_success 95.00% < 99.00%",), 100)
    assert slo_reasons(held_ok, ramp_bad, held=True) == [
        "SLO broken over the whole run: ws_connect_success 95.00% < 99.00%"
    ]
    both = SloVerdict(False, ("p95_ms 120.0 ms > 100 ms", "ws_connect_success 95.00% < 99.00%"), 100)
    assert slo_reasons(both, ramp_bad, held=False) == [
        "SLO broken over the load: p95_ms 120.0 ms > 100 ms",
        "SLO broken over the load: ws_connect_success 95.00% < 99.00%",
    ]
    assert slo_reasons(held_ok, held_ok, held=True) == []
