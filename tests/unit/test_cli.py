"""The CLI root: help, version and the exit code for a wrong flag."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resilience", *args], capture_output=True, text=True, timeout=60)


def test_help_lists_exit_codes() -> None:
    """``resilience --help`` documents the exit codes."""
    r = _run("--help")
    assert r.returncode == 0
    assert "130 interrupted" in r.stdout


def test_unknown_flag_is_invalid_input_without_traceback() -> None:
    """A wrong flag exits 3 with a one-line error, never a traceback."""
    r = _run("--no-such-flag")
    assert r.returncode == 3
    assert r.stderr.startswith("error: ")
    assert "Traceback" not in r.stderr
