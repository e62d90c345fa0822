"""The CLI root as a child process: help, version and the exit code for a wrong flag."""

from __future__ import annotations

import pytest

from tests.support.cli import run_cli

pytestmark = pytest.mark.integration


def test_help_lists_exit_codes() -> None:
    """``resilience --help`` documents the exit codes."""
    r = run_cli("--help")
    assert r.returncode == 0
    assert "130 interrupted" in r.stdout


def test_unknown_flag_is_invalid_input_without_traceback() -> None:
    """A wrong flag exits 3 with a one-line error, never a traceback."""
    r = run_cli("--no-such-flag")
    assert r.returncode == 3
    assert r.stderr.startswith("error: ")
    assert "Traceback" not in r.stderr
