"""``resilience cleanup`` on the real local stack: after a kill -9 mid-fault it reverts every recorded
fault and proves the target clean; it refuses to touch a target a live run holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from resilience.safety.fault_store import DurableLedger
from resilience.targets.local import LocalTarget

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

_HARNESS = textwrap.dedent("""
    import sys, time
    from resilience.faults import network, release
    config = {"target": "local", "state_dir": sys.argv[1]}
    network.add_latency("postgres", latency_ms=30, configuration=config)
    network.take_down("redis", configuration=config)
    release.roll_out_release("bad-errors", timeout_s=120, configuration=config)
    print("applied", flush=True)
    time.sleep(600)
""")


@pytest.fixture(scope="module")
def stack(local_stack: LocalTarget) -> LocalTarget:
    """The session's local stack (2 chat replicas); every test leaves it clean."""
    return local_stack


def _cleanup(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resilience", "cleanup", "--state-dir", str(state), "--json", "--timeout", "90"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cleanup_after_kill_9_reverts_everything_recorded(stack: LocalTarget) -> None:
    """Latency, an outage and a bad release left by a SIGKILLed harness are reverted and verified."""
    state = stack.layout.root
    proc = subprocess.Popen(
        [sys.executable, "-c", _HARNESS, str(state)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "applied"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert len(DurableLedger(state).entries()) == 3
    assert stack.release() == "bad-errors"
    done = _cleanup(state)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert sorted(report["reverted"]) == ["down:redis", "release", "toxic:postgres:resilience_latency_downstream"]
    assert all(c["ok"] for c in report["checks"]), report["checks"]
    assert DurableLedger(state).entries() == []
    proxies = requests.get(f"{stack.endpoints().toxiproxy}/proxies", timeout=10).json()
    assert all(p["enabled"] and not p["toxics"] for p in proxies.values())
    assert stack.release() == "good"


def test_cleanup_refuses_while_a_run_holds_the_target(stack: LocalTarget) -> None:
    """A live run's faults are its own: cleanup exits 2 naming the holder and changes nothing."""
    hold = (
        "import sys, time; from pathlib import Path; from resilience.safety.lock import RunLock; "
        "RunLock(Path(sys.argv[1]), 'run').acquire(); print('held', flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", hold, str(stack.layout.root)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        done = _cleanup(stack.layout.root)
        assert done.returncode == 2
        assert f"is busy: run pid {proc.pid}" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    done = _cleanup(stack.layout.root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["recorded"] == []
