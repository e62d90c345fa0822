"""Deploys on the real local stack: rolling and blue-green cost no request, a release that fails its analysis
is rolled back by the stack itself, one that never gets ready halts, an interrupted deploy is rolled back
by ``resilience cleanup``. Traffic: a client sending through HAProxy every 20 ms."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from resilience.targets.local import LocalTarget
from resilience.targets.local.layout import StackState

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
DEPLOY_BOUND_S = 30.0
"""The goal for a deploy of up to 3 replicas; a 2-replica stack on a busy box must meet it as well."""


@pytest.fixture(scope="module")
def stack(local_stack: LocalTarget) -> LocalTarget:
    """The session's local stack (2 chat replicas); every test leaves it on the good release, no extra slot."""
    return local_stack


@contextmanager
def traffic(target: LocalTarget) -> Iterator[list[int]]:
    """REST sends through HAProxy every 20 ms while the block runs; yields their status codes (0: no answer)."""
    chat = target.endpoints().chat
    secret = target.issuer_secret()
    token = httpx.post(f"{chat}/auth/token", json={"user": "deployer"}, headers={"X-Issuer-Secret": secret}).json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    codes: list[int] = []
    stop = threading.Event()

    def run() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                body = {"client_id": uuid.uuid4().hex, "body": "deploy"}
                try:
                    codes.append(client.post(f"{chat}/rooms/deploys/messages", json=body, headers=headers).status_code)
                except httpx.HTTPError:
                    codes.append(0)
                stop.wait(0.02)

    sender = threading.Thread(target=run, daemon=True)
    sender.start()
    try:
        yield codes
    finally:
        stop.set()
        sender.join(15)


def _serving(stack: LocalTarget) -> list[str]:
    return StackState.load(stack.layout.state_file).chat_names()


@pytest.mark.parametrize("strategy", ["rolling", "blue-green"])
def test_good_deploy_fails_no_request_and_moves_every_replica(stack: LocalTarget, strategy: str) -> None:
    """Every replica is replaced by a new process on a new revision; no request through HAProxy fails."""
    before = _serving(stack)
    pids = {p.pid for p in stack.pods("app=chat-api")}
    with traffic(stack) as codes:
        time.sleep(1)
        result = stack.deploy("good", strategy, options={"scaleDownDelaySeconds": 3})
        time.sleep(1)
    assert result.outcome == "completed", result.reason
    assert result.switched_at is not None and result.switched_at - result.started <= DEPLOY_BOUND_S
    assert len(_serving(stack)) == len(before)
    assert not pids & {p.pid for p in stack.pods("app=chat-api")}  # every replica is a new process
    assert len(codes) > 100
    assert [c for c in codes if c not in (200, 201)] == []
    assert all(p.ready for p in stack.pods("app=chat-api"))
    assert not stack.deploy_in_progress()


def test_release_failing_its_analysis_is_rolled_back_by_the_stack(stack: LocalTarget) -> None:
    """bad-errors: the analysis sees its error rate in Prometheus and the stack rolls back by itself."""
    with traffic(stack) as codes:
        time.sleep(1)
        result = stack.deploy("bad-errors", "rolling")
        time.sleep(1)
        tail = len(codes)
        time.sleep(2)
    assert result.outcome == "rolled_back", result.reason
    assert result.rolled_back_by == "system"
    assert "error-rate" in result.reason
    assert result.rollback_finished is not None and result.rollback_finished - result.started <= DEPLOY_BOUND_S
    assert stack.release() == "good"
    assert {p.labels["release"] for p in stack.pods("app=chat-api")} == {"good"}
    assert 500 in codes  # the bad release did answer errors before the rollback
    assert [c for c in codes[tail:] if c not in (200, 201)] == []


def test_release_that_never_gets_ready_halts_and_users_see_nothing(stack: LocalTarget) -> None:
    """bad-readiness: the first new replica never gets ready; the deploy halts, the old replicas serve."""
    before = _serving(stack)
    with traffic(stack) as codes:
        result = stack.deploy("bad-readiness", "rolling", options={"progressDeadlineSeconds": 5})
    assert result.outcome == "halted"
    assert "not ready" in result.reason
    assert _serving(stack) == before
    assert stack.release() == "good"
    assert [c for c in codes if c not in (200, 201)] == []
    assert len(stack.pods("app=chat-api")) == len(before)


_HARNESS = textwrap.dedent("""
    import sys
    from resilience.faults import deploys
    config = {"target": "local", "state_dir": sys.argv[1]}
    deploys.deploy_release("bad-latency", strategy="blue-green", options={"scaleDownDelaySeconds": 600},
                           configuration=config)
""")


def test_interrupted_deploy_is_rolled_back_by_cleanup(stack: LocalTarget) -> None:
    """A harness SIGKILLed after a blue-green switch leaves two sets running; cleanup restores one, good."""
    state_file = stack.layout.state_file
    before = _serving(stack)
    proc = subprocess.Popen([sys.executable, "-c", _HARNESS, str(stack.layout.root)], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while _serving(stack) == before:
            assert time.monotonic() < deadline, "the blue-green deploy never switched"
            assert proc.poll() is None
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert json.loads(state_file.read_text())["deploying"] is True
    out = subprocess.run(
        [sys.executable, "-m", "resilience", "cleanup", "--state-dir", str(stack.layout.root), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert not stack.deploy_in_progress()
    assert stack.release() == "good"
    pods = stack.pods("app=chat-api")
    assert len(pods) == len(before)
    assert {p.labels["release"] for p in pods} == {"good"}
    procs = stack._view().sup.processes()
    running = [n for n in StackState.load(state_file).chat_slots() if procs.get(n) and procs[n].state == "RUNNING"]
    assert sorted(running) == sorted(_serving(stack))
