"""`resilience up/status/down` on the local target without a running stack: one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from resilience.targets.local.layout import StackState

pytestmark = pytest.mark.unit


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "resilience", *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def state_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="resilience-cli-", dir="/tmp"))
    try:
        yield d / "state"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_status_json_of_a_stopped_stack_says_not_running(state_dir: Path) -> None:
    """`status --json` with nothing running prints running=false and exits 2."""
    r = _run("status", "--json", "--state-dir", str(state_dir))
    assert r.returncode == 2
    assert json.loads(r.stdout) == {"target": "local", "healthy": False, "running": False,
                                    "components": [], "endpoints": None}


def test_status_of_a_crashed_run_names_the_stale_state(state_dir: Path) -> None:
    """A state file whose supervisord is gone is reported as stale state in one line, exit 2."""
    state_dir.mkdir(parents=True)
    StackState(replicas=1, ports={}, scope="rs-x", supervisord_pid=2**22 - 7).save(state_dir / "state.json")
    r = _run("status", "--state-dir", str(state_dir))
    assert r.returncode == 2
    assert r.stderr.startswith("error: stale state in ") and "resilience down" in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_down_cleans_a_crashed_run_and_a_malformed_state_file(state_dir: Path) -> None:
    """`down` on a malformed state file cleans up and says nothing was running."""
    state_dir.mkdir(parents=True)
    (state_dir / "state.json").write_text("{broken")
    r = _run("down", "--state-dir", str(state_dir))
    assert r.returncode == 0, r.stderr
    assert "nothing was running" in r.stdout
    assert not (state_dir / "state.json").exists()


def test_up_refuses_a_state_dir_the_postgres_user_cannot_reach(state_dir: Path) -> None:
    """A state dir below a 0700 directory fails before anything starts, naming the blocking directory."""
    os.chmod(state_dir.parent, 0o700)
    r = _run("up", "--state-dir", str(state_dir))
    assert r.returncode == 2
    assert f"{state_dir.parent} is not searchable" in r.stderr
    assert "Traceback" not in r.stderr
    assert not state_dir.exists()
