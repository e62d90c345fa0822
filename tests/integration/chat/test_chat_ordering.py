"""Message ids within a room follow commit order, so catch-up with after=<last id> never skips."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.integration.chat.conftest import StartReplicas, auth, chat_env, token
from tests.integration.chat.wsclient import messages_until, open_ws, recv_until, send
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


def _writer(ws_url: str, ws_token: str, prefix: str, errors: list[str], room: str = "hot") -> None:
    try:
        with open_ws(ws_url, ws_token, room) as ws:
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
        seqs = [r[0] for r in conn.execute("SELECT seq FROM messages WHERE room = 'hot' ORDER BY id")]
        room_seq = conn.execute("SELECT seq FROM chat_rooms WHERE room = 'hot'").fetchone()
        by_commit = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM messages WHERE room = 'hot' ORDER BY pg_xact_commit_timestamp(xmin), id"
            )
        ]
    assert len(by_id) == WRITERS * SENDS
    assert by_commit == by_id
    assert seqs == list(range(1, WRITERS * SENDS + 1))  # contiguous, in id (= commit) order
    assert room_seq == (WRITERS * SENDS,)
    assert seen == by_id


def test_live_pushes_reach_every_socket_in_id_order_across_replicas(
    pg_dsn: str, redis_server: RedisServer, start_replicas: StartReplicas
) -> None:
    """Concurrent sends through two replicas: a socket on each replica receives the room's messages live,
    each id once, in id order, none missing (a push relayed through Redis must not overtake a local one:
    a client that reconnects with after=<highest id seen> in between would skip the lower id for good)."""
    env = chat_env(pg_dsn, redis_server.url(), CHAT_REDIS_CHANNEL=f"order-{uuid.uuid4().hex[:8]}")
    a, b = start_replicas(2, env)
    room = f"live-{uuid.uuid4().hex[:8]}"
    listeners = [open_ws(r, token(r, f"listener-{i}"), room) for i, r in enumerate((a, b))]
    try:
        for ws in listeners:
            recv_until(ws, "ready")
        errors: list[str] = []
        writers = [
            threading.Thread(
                target=_writer, args=((a, b)[i % 2].ws_url, token(a, f"w{i}"), f"w{i}", errors), kwargs={"room": room}
            )
            for i in range(WRITERS)
        ]
        for w in writers:
            w.start()
        for w in writers:
            w.join(120)
        assert errors == []
        with psycopg.connect(pg_dsn) as conn:
            stored = [r[0] for r in conn.execute("SELECT id FROM messages WHERE room = %s ORDER BY id", (room,))]
        assert len(stored) == WRITERS * SENDS
        for replica, ws in zip("ab", listeners, strict=True):
            got = [m["id"] for m in messages_until(ws, len(stored), timeout=30)]
            assert got == stored, f"socket on replica {replica}: first difference at {_first_difference(got, stored)}"
    finally:
        for ws in listeners:
            ws.close()


def _first_difference(got: list[int], want: list[int]) -> str:
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return f"position {i}: got {got[i : i + 4]}, want {want[i : i + 4]}"
    return f"lengths {len(got)} vs {len(want)}"
