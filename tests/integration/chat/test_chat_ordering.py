"""Message ids within a room follow commit order, so catch-up with after=<last id> never skips."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.integration.chat.conftest import StartReplicas, auth, chat_env, token
from tests.integration.chat.wsclient import open_ws, recv_until, send
from tests.support.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.integration

WRITERS = 8
SENDS = 40


@pytest.fixture
def commit_ts_postgres() -> Iterator[PostgresServer]:
    """A dedicated PostgreSQL with track_commit_timestamp=on (so commit order can be read back)."""
    server = PostgresServer().start()
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET track_commit_timestamp = on")
        server.restart()
        yield server
    finally:
        server.cleanup()


def _writer(ws_url: str, ws_token: str, prefix: str, errors: list[str]) -> None:
    try:
        with open_ws(ws_url, ws_token, "hot") as ws:
            recv_until(ws, "ready")
            for i in range(SENDS):
                send(ws, f"{prefix}-{i}", "x")
                recv_until(ws, "ack", timeout=30)
    except Exception as exc:  # noqa: BLE001 - reported to the test thread
        errors.append(repr(exc))


def test_ids_follow_commit_order_under_concurrent_sends(
    commit_ts_postgres: PostgresServer, redis_server: RedisServer, start_replicas: StartReplicas
) -> None:
    """Concurrent sends on two replicas: ordering a room by id equals ordering by commit time, and a poller
    that only ever asks for after=<last id it saw> ends up with every message."""
    dsn = commit_ts_postgres.create_database("ordering")
    a, b = start_replicas(2, chat_env(dsn, redis_server.url()))
    h = auth(a, "poller")
    seen: list[int] = []
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(headers=h, timeout=15) as client:
            while True:
                done = stop.is_set()
                after = seen[-1] if seen else 0
                page = client.get(f"{a.url}/rooms/hot/messages", params={"after": after, "limit": 1000})
                seen.extend(m["id"] for m in page.json()["messages"])
                if done:
                    return

    errors: list[str] = []
    poller = threading.Thread(target=poll)
    poller.start()
    writers = [
        threading.Thread(target=_writer, args=((a, b)[i % 2].ws_url, token(a, f"w{i}"), f"w{i}", errors))
        for i in range(WRITERS)
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    stop.set()
    poller.join(30)
    assert errors == []
    with psycopg.connect(dsn) as conn:
        by_id = [r[0] for r in conn.execute("SELECT id FROM messages WHERE room = 'hot' ORDER BY id")]
        by_commit = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM messages WHERE room = 'hot' ORDER BY pg_xact_commit_timestamp(xmin), id"
            )
        ]
    assert len(by_id) == WRITERS * SENDS
    assert by_commit == by_id
    assert seen == by_id
