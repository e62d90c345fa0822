"""The lean send path: one statement (one round trip) per send, and a replayed client_id costs no seq."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.integration.chat.conftest import StartReplicas, auth, chat_env, token
from tests.integration.chat.wsclient import open_ws, recv_until, send
from tests.support.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.integration

SENDS = 20


@pytest.fixture
def stat_statements_postgres() -> Iterator[PostgresServer]:
    """A dedicated PostgreSQL with pg_stat_statements loaded (so the statements of the sends can be counted)."""
    server = PostgresServer().start()
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        server.restart()
        yield server
    finally:
        server.cleanup()


def test_a_send_is_one_statement_without_begin_or_commit(
    stat_statements_postgres: PostgresServer, redis_server: RedisServer, start_replicas: StartReplicas
) -> None:
    """N WebSocket sends execute exactly N top-level statements on the database, all ``chat_send_v2`` (no
    BEGIN, COMMIT or other statement: one round trip each), and each is acked with its stored row. The
    replica's reachability probe (chat/dbprobe.py, every 0.5 s on its own connection, not the send path) is
    left out of the count: on a slow box the sends take longer than one probe interval."""
    dsn = stat_statements_postgres.create_database("sendpath")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    replica = start_replicas(1, chat_env(dsn, redis_server.url()))[0]
    with open_ws(replica, token(replica), "r1") as ws, psycopg.connect(dsn, autocommit=True) as conn:
        recv_until(ws, "ready")
        dbid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()
        assert dbid is not None
        conn.execute("SELECT pg_stat_statements_reset(0, %s, 0)", dbid)
        acks = []
        for i in range(SENDS):
            send(ws, f"c{i}", f"body {i}")
            acks.append(recv_until(ws, "ack")[0])
        rows = conn.execute(
            "SELECT query, calls FROM pg_stat_statements WHERE dbid = %s AND toplevel"
            " AND query NOT LIKE '%%pg_stat_statements%%' AND query NOT LIKE '%%pg_is_in_recovery()%%'",
            dbid,
        ).fetchall()
    assert [a["seq"] for a in acks] == list(range(1, SENDS + 1))
    assert len(rows) == 1, rows
    query, calls = rows[0]
    assert "chat_send_v2" in query and calls == SENDS, rows


def test_a_replayed_client_id_returns_the_same_id_and_seq_and_takes_no_seq(
    start_replicas: StartReplicas, env: dict[str, str]
) -> None:
    """Resending a client_id (over WebSocket, then REST) answers the stored id and seq; the room's next
    message takes the next seq, so the sequence stays contiguous."""
    replica = start_replicas(1, env)[0]
    with open_ws(replica, token(replica), "r1") as ws:
        recv_until(ws, "ready")
        send(ws, "first", "one")
        first = recv_until(ws, "ack")[0]
        send(ws, "first", "one, again")
        again = recv_until(ws, "ack")[0]
        rest = httpx.post(
            f"{replica.url}/rooms/r1/messages",
            json={"client_id": "first", "body": "one, by REST"},
            headers=auth(replica),
            timeout=15,
        )
        send(ws, "second", "two")
        second = recv_until(ws, "ack")[0]
    assert (first["id"], first["seq"]) == (again["id"], again["seq"]) == (rest.json()["id"], rest.json()["seq"])
    assert rest.status_code == 200 and rest.json()["body"] == "one"
    assert first["seq"] == 1 and second["seq"] == 2
