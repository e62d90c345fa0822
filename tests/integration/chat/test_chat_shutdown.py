"""Graceful shutdown of a real replica: unready first, in-flight sends finish, WebSockets closed with 1012."""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.integration.chat.conftest import StartReplicas, auth, token
from tests.integration.chat.wsclient import open_ws, recv_json, recv_until

pytestmark = pytest.mark.integration

DELAY_S = 1.0
LATENCY_S = 1.5
TOLERANCE_S = 2.0
"""Scheduling slack on a busy 2-core box (process exit, interpreter shutdown)."""


def test_sigterm_turns_unready_then_drains_and_closes_websockets_with_1012(
    start_replicas: StartReplicas, env: dict[str, str]
) -> None:
    """On SIGTERM /readyz is 503 at once while requests are still served for CHAT_SHUTDOWN_DELAY_S; a send
    in flight is answered 201, an open WebSocket is closed with 1012 and the process exits within the bound."""
    extra = {
        "CHAT_SHUTDOWN_DELAY_S": str(DELAY_S),
        "CHAT_DRAIN_TIMEOUT_S": "5",
        "CHAT_RELEASE": "bad-latency",
        "CHAT_BAD_LATENCY_MS": str(LATENCY_S * 1000),
    }
    (r,) = start_replicas(1, {**env, **extra})
    h = auth(r)
    ws = open_ws(r, token(r), "r1")
    recv_until(ws, "ready")
    in_flight: list[int] = []

    def slow_send() -> None:
        resp = httpx.post(f"{r.url}/rooms/r1/messages", json={"client_id": "slow", "body": "x"}, headers=h, timeout=15)
        in_flight.append(resp.status_code)

    sender = threading.Thread(target=slow_send)
    sender.start()
    time.sleep(0.3)  # the send is inside the replica (it takes LATENCY_S there)
    assert r.proc is not None
    t0 = time.monotonic()
    r.proc.send_signal(signal.SIGTERM)
    deadline = t0 + 0.5
    while httpx.get(f"{r.url}/readyz", timeout=2).status_code != 503:
        assert time.monotonic() < deadline, "/readyz still 200 0.5 s after SIGTERM"
        time.sleep(0.02)
    assert httpx.get(f"{r.url}/readyz", timeout=2).json()["reason"] == "shutting down: draining"
    assert httpx.get(f"{r.url}/healthz", timeout=2).status_code == 200  # still serving during the delay
    code = None
    try:
        while True:
            recv_json(ws, timeout=DELAY_S + 5)
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
    assert code == 1012
    assert time.monotonic() - t0 >= DELAY_S - 0.1  # not before the delay
    sender.join(15)
    assert in_flight == [201]
    r.proc.wait(DELAY_S + 5 + TOLERANCE_S)
    assert time.monotonic() - t0 <= DELAY_S + LATENCY_S + TOLERANCE_S


def test_busy_websockets_get_their_1012_close_frame(start_replicas: StartReplicas, env: dict[str, str]) -> None:
    """Clients sending every 5 ms at the moment the replica closes them each receive the 1012 close frame (the
    replica closes each socket with a closing handshake): a close without a frame (1006) would not tell them
    to reconnect at once, and their sends would fail meanwhile."""
    (r,) = start_replicas(1, {**env, "CHAT_SHUTDOWN_DELAY_S": "0.5", "CHAT_RATE_LIMIT": "100000"})
    codes: list[int | None] = []

    def client(i: int) -> None:
        ws = open_ws(r, token(r, f"busy-{i}"), "busy")
        recv_until(ws, "ready")
        n = 0
        try:
            while True:
                ws.send(f'{{"type": "send", "client_id": "c{i}-{n}", "body": "x"}}')
                n += 1
                with contextlib.suppress(TimeoutError):
                    ws.recv(timeout=0.005)
        except ConnectionClosed as exc:
            codes.append(exc.rcvd.code if exc.rcvd else None)

    clients = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for c in clients:
        c.start()
    time.sleep(1.0)
    assert r.proc is not None
    r.proc.send_signal(signal.SIGTERM)
    for c in clients:
        c.join(15)
    assert codes == [1012] * 8
