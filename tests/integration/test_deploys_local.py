"""Deploys on the real local stack: rolling and blue-green cost no request, a release that fails its analysis
is rolled back by the stack itself, one that never gets ready halts, an interrupted deploy is rolled back
by ``resilience cleanup``. Traffic: a client sending through HAProxy every 20 ms."""

from __future__ import annotations

import contextlib
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
import psycopg
import pytest

from resilience.targets.local import LocalTarget, lb
from resilience.targets.local.layout import StackState
from tests.support.local_stack import save_logs
from tests.support.wsusers import WsUser, check_delivery, settle

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
USERS = 16
"""WebSocket users of the blue-green test, in two rooms: several sockets of a room on each replica of the new
colour reconnect to it at once when the old colour is retired."""
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


@contextmanager
def jittered_database(target: LocalTarget) -> Iterator[None]:
    """The chat replicas' answers from PostgreSQL take 0-20 ms while the block runs (a latency toxic with
    jitter on the fault proxy): on a busy box, answers to queries sent at once come back in any order."""
    api = target.endpoints().toxiproxy
    toxic = {"name": "jitter", "type": "latency", "stream": "downstream", "attributes": {"latency": 10, "jitter": 10}}
    httpx.post(f"{api}/proxies/postgres/toxics", json=toxic, timeout=10).raise_for_status()
    try:
        yield
    finally:
        httpx.delete(f"{api}/proxies/postgres/toxics/jitter", timeout=10)


def _room_ids(target: LocalTarget, rooms: set[str]) -> dict[str, list[int]]:
    with psycopg.connect(target.endpoints().postgres) as conn:
        return {
            room: [r[0] for r in conn.execute("SELECT id FROM messages WHERE room = %s ORDER BY id", (room,))]
            for room in rooms
        }


@pytest.mark.parametrize("jitter", [False, True], ids=["quiet", "jittered-db"])
def test_blue_green_switch_costs_websocket_users_nothing(stack: LocalTarget, jitter: bool) -> None:
    """WebSocket users in two rooms send every 40 ms through HAProxy while a blue-green deploy switches colours
    and retires the old one (its sockets closed with 1012: every user reconnects to the new colour at once).
    No send fails (each is acknowledged, resent from the outbox across the 1012), and every user receives
    every message of its room after its join point, in id order, up to the last one acknowledged."""
    chat = stack.endpoints().chat
    secret = stack.issuer_secret()
    ws_base = "ws" + chat.removeprefix("http") + "/ws"
    tag = uuid.uuid4().hex[:6]
    users = []
    for i in range(USERS):
        room = f"bluegreen-{tag}-{i % 2}"
        tok = httpx.post(f"{chat}/auth/token", json={"user": f"bg{i}"}, headers={"X-Issuer-Secret": secret}).json()
        users.append(WsUser(ws_base, tok["token"], room, f"user-{i}"))
    for user in users:
        user.start()
    with jittered_database(stack) if jitter else contextlib.nullcontext():
        time.sleep(1)
        result = stack.deploy("good", "blue-green", options={"scaleDownDelaySeconds": 2})
        time.sleep(1)
    last_acked = settle(users)
    assert result.outcome == "completed", result.reason
    failures = [f for u in users for f in u.out.failures]
    if failures:
        save_logs(stack, "blue-green-websockets")  # the replicas' logs of the switch, for the failures below
    assert failures == [], "; ".join(f"{t:.3f} {e}" for t, e in result.steps)
    assert sum(u.out.closes.count(1012) for u in users) >= len(users)  # every user was moved by a 1012
    assert sum(len(u.out.acked) for u in users) > 200
    assert all(u.seen() >= last_acked[u.room] for u in users), "a user never got its room's last acked message"
    assert check_delivery(users, _room_ids(stack, set(last_acked))) == []


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
    options = {"scaleDownDelaySeconds": 600, "progressDeadlineSeconds": 600}
    deploys.deploy_release(sys.argv[2], strategy="blue-green", options=options, configuration=config)
""")


def _green_started(stack: LocalTarget, before: list[str]) -> bool:
    """The new colour has started (one replica at a time: on bad-readiness the first never gets ready, so the
    others never start and the switch never comes)."""
    procs = stack._view().sup.processes()
    state = StackState.load(stack.layout.state_file)
    return any(n not in before and procs.get(n) and procs[n].state == "RUNNING" for n in state.chat_slots())


def _resilience(stack: LocalTarget, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "resilience", *args, "--state-dir", str(stack.layout.root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.parametrize(
    ("moment", "recovery"),
    [("before-switch", "cleanup"), ("after-switch", "cleanup"), ("after-switch", "up")],
)
def test_interrupted_blue_green_leaves_one_complete_colour(stack: LocalTarget, moment: str, recovery: str) -> None:
    """A harness SIGKILLed in the middle of a blue-green deploy leaves two sets running: after the new set started
    (before the switch), or after the switch (the old set kept, drained). ``resilience cleanup`` (through the
    deploy's record in the fault ledger) or the next ``resilience up`` (the deploy's process is gone) leaves one
    complete colour on the previous release: no other chat replica running, HAProxy with exactly that colour in
    rotation in every process and every other slot in maintenance. After the switch it is the kept set that
    serves again (the same processes: the switch back it was kept for), not the new one rolled back in place."""
    state_file = stack.layout.state_file
    before = _serving(stack)
    pids = {p.name: p.pid for p in stack.pods("app=chat-api")}
    release = "bad-readiness" if moment == "before-switch" else "bad-latency"
    proc = subprocess.Popen([sys.executable, "-c", _HARNESS, str(stack.layout.root), release], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not (_green_started(stack, before) if moment == "before-switch" else _serving(stack) != before):
            assert time.monotonic() < deadline, f"the blue-green deploy never got {moment}"
            assert proc.poll() is None
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert json.loads(state_file.read_text())["deploying"] is True
    out = _resilience(stack, *(["cleanup", "--json"] if recovery == "cleanup" else ["up"]))
    assert out.returncode == 0, out.stdout + out.stderr
    if recovery == "up":  # the ledger still holds the deploy's record: cleanup finds nothing left to undo
        out = _resilience(stack, "cleanup", "--json")
        assert out.returncode == 0, out.stdout + out.stderr
        assert json.loads(out.stdout)["reverted"] == ["deploy"]
    assert not stack.deploy_in_progress()
    assert stack.release() == "good"
    assert sorted(_serving(stack)) == sorted(before)
    assert {p.name: p.pid for p in stack.pods("app=chat-api")} == pids  # the old colour's processes serve again
    assert all(p.ready and p.labels["release"] == "good" for p in stack.pods("app=chat-api"))
    state = StackState.load(state_file)
    procs = stack._view().sup.processes()
    running = [n for n in state.chat_slots() if procs.get(n) and procs[n].state in ("RUNNING", "STARTING", "STOPPING")]
    assert sorted(running) == sorted(before)
    for servers in lb.servers(stack._view()):
        assert {n: servers[n]["status"].split()[0] for n in state.chat_slots()} == {
            n: "UP" if n in before else "MAINT" for n in state.chat_slots()
        }
