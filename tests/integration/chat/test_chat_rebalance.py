"""WebSocket rebalancing between real replicas sharing a real Redis: a replica above its fair share closes the
excess, oldest first, with 1012; while Redis is down it closes nothing."""

from __future__ import annotations

import re

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from chat.launcher import ChatReplica
from tests.integration.chat.conftest import StartReplicas, chat_env, token
from tests.integration.chat.wsclient import open_ws, recv_until
from tests.support.servers import RedisServer
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

INTERVAL_S = 0.2
SOCKETS = 10  # on one replica of two: fair share 5, threshold max(6, 8) = 8, so 5 are closed
BOUND_S = 4 * INTERVAL_S * 1.2 + 0.5
"""A beat of each replica, a round of the loaded one that wants to shed, one that confirms it and sheds;
0.5 s for the closes."""
TOLERANCE_S = 5.0
"""Scheduling noise on a shared 2-core box."""


def _shed(replica: ChatReplica) -> float:
    text = httpx.get(f"{replica.url}/metrics", timeout=10).text
    m = re.search(r"^chat_ws_shed_total (\S+)", text, re.M)
    return float(m.group(1)) if m else 0.0


def _closed_with(ws: ClientConnection, timeout: float) -> int | None:
    """The close code if the server closes ``ws`` within ``timeout``, else None."""
    try:
        while True:
            ws.recv(timeout=timeout)
    except TimeoutError:
        return None
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else 1006


def test_the_replica_above_its_share_sheds_oldest_first_and_nothing_while_redis_is_down(
    pg_dsn: str, own_redis: RedisServer, start_replicas: StartReplicas
) -> None:
    """10 sockets on A, none on B. Redis down: no socket is closed for 10 intervals. Redis back: within the
    bound A closes exactly the 5 oldest with 1012 (chat_ws_shed_total 5) and keeps the 5 newest."""
    env = chat_env(pg_dsn, own_redis.url(), CHAT_REBALANCE_INTERVAL_S=str(INTERVAL_S))
    a, b = start_replicas(2, env)
    own_redis.stop()
    socks = []
    try:
        for i in range(SOCKETS):
            ws = open_ws(a, token(a, f"u{i}"), "r1")
            recv_until(ws, "ready")
            socks.append(ws)
        assert [_closed_with(ws, 0.2) for ws in socks] == [None] * SOCKETS  # 2 s: 10 intervals
        assert _shed(a) == 0
        own_redis.start()
        codes = [_closed_with(ws, BOUND_S + TOLERANCE_S) for ws in socks[:5]]
        assert codes == [1012] * 5
        assert [_closed_with(ws, 3 * INTERVAL_S) for ws in socks[5:]] == [None] * 5
        wait_until(lambda: _shed(a), lambda n: n == 5, timeout=10)
        assert _shed(b) == 0
    finally:
        for ws in socks:
            ws.close()
