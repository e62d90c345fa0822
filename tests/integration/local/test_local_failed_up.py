"""A bring-up with a component that will not start: one-line error naming its log, nothing left behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from resilience.targets.local.teardown import stack_processes
from tests.support.local_stack import local_state_root

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_up_with_a_crash_looping_chat_replica_fails_with_its_log_and_cleans_up() -> None:
    """Chat replicas that exit at start (bad CHAT_RATE_LIMIT) make `up` fail fast, say which log to read,
    and stop everything it had started."""
    with local_state_root() as root:
        state_dir = root / "state"
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "resilience",
                "up",
                "--state-dir",
                str(state_dir),
                "--replicas",
                "1",
                "--chat-env",
                "CHAT_RATE_LIMIT=not-a-number",
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert r.returncode == 2, r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert last == f"error: chat-1 will not start: see {state_dir}/logs/chat-1.log", r.stderr
        assert "Traceback" not in r.stderr
        assert "CHAT_RATE_LIMIT" in (state_dir / "logs" / "chat-1.log").read_text()
        assert not (state_dir / "state.json").exists()
        assert stack_processes(state_dir) == []
