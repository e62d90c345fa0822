"""Run the ``resilience`` CLI as a child process (integration and e2e tests only: unit tests start none)."""

from __future__ import annotations

import subprocess
import sys

__all__ = ["run_cli"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m resilience ARGS`` with this interpreter; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "resilience", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
