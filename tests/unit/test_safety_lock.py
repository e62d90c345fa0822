"""One run per target: the run lock refuses a second holder and recognises a dead holder as stale."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from resilience.errors import TargetError
from resilience.safety.lock import RunLock, process_start_time

pytestmark = pytest.mark.unit


def _dead_pid() -> int:
    """A pid no process can have: one above the kernel's pid_max (unit tests start no process to get one)."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


def test_second_holder_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    """While one run holds the lock, another is refused in one line naming pid and purpose."""
    with (
        RunLock(tmp_path, "run", results_dir=tmp_path / "results"),
        pytest.raises(TargetError, match=rf"is busy: run pid {os.getpid()} since"),
    ):
        RunLock(tmp_path, "cleanup").acquire()
    with RunLock(tmp_path, "cleanup") as again:
        assert again.stale is None


def test_clean_release_leaves_no_name(tmp_path: Path) -> None:
    """A released lock file is empty, so the next holder sees no stale run."""
    with RunLock(tmp_path, "run"):
        pass
    assert (tmp_path / "run.lock").read_text() == ""


@pytest.mark.parametrize("case", ["dead pid", "reused pid"])
def test_dead_holder_is_detected_as_stale(tmp_path: Path, case: str) -> None:
    """A lock naming a gone process (or a live pid with another start time) is stale and taken over."""
    pid = _dead_pid() if case == "dead pid" else os.getpid()
    started = time.time() - 3600 if case == "reused pid" else 1.0
    holder = {
        "pid": pid,
        "started": started,
        "purpose": "run",
        "command": "resilience run x",
        "acquired": time.time() - 10,
        "results_dir": str(tmp_path / "results"),
    }
    (tmp_path / "run.lock").write_text(json.dumps(holder))
    with RunLock(tmp_path, "cleanup") as lock:
        assert lock.stale is not None and lock.stale.pid == pid
        assert lock.stale.results_dir == str(tmp_path / "results")
        assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()


def test_start_time_of_missing_process_is_none() -> None:
    """process_start_time says None for a pid that does not exist."""
    assert process_start_time(_dead_pid()) is None
    assert process_start_time(os.getpid()) is not None
