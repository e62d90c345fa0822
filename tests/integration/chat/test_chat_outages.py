"""Dependency outages on dedicated servers: Redis down degrades fan-out only; database down is 503 + recovery."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest

from chat.launcher import ChatReplica
from tests.integration.chat.conftest import StartReplicas, auth, chat_env, token
from tests.integration.chat.wsclient import messages_until, open_ws, recv_until, send
from tests.support.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.integration


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached after {timeout} s")
        time.sleep(0.1)


def readyz(replica: ChatReplica) -> httpx.Response:
    return httpx.get(f"{replica.url}/readyz", timeout=10)


def subscribed(replica: ChatReplica) -> bool:
    return "chat_redis_subscribed 1.0" in httpx.get(f"{replica.url}/metrics", timeout=10).text


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test alone (it will be stopped and started again)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.cleanup()


def test_redis_down_sends_still_ack_and_catch_up_works(
    pg_dsn: str, own_redis: RedisServer, start_replicas: StartReplicas
) -> None:
    """With Redis stopped: readyz stays 200 naming redis, sends on both replicas ack, a reconnect with after=
    replays them; when Redis returns, fan-out resumes without restarting the replicas and a socket that
    stayed connected through the outage gets the messages it missed."""
    env = chat_env(pg_dsn, own_redis.url())
    a, b = start_replicas(2, env)
    (strict,) = start_replicas(1, {**env, "CHAT_READYZ_REQUIRES_REDIS": "1"})
    wait_until(lambda: subscribed(a) and subscribed(b), what="replicas subscribed")
    with open_ws(b, token(b, "stayer"), "r1") as stay:
        recv_until(stay, "ready")
        own_redis.stop()
        wait_until(lambda: readyz(a).json()["unreachable"] == ["redis"], what="readyz names redis")
        r = readyz(a)
        assert (r.status_code, r.json()["status"]) == (200, "degraded")
        assert readyz(strict).status_code == 503
        with open_ws(a, token(a), "r1") as ws:
            last = recv_until(ws, "ready")[0]["last_id"]
            send(ws, "ws-during-outage", "a")
            acked = recv_until(ws, "ack")[0]["id"]
        rest = httpx.post(
            f"{b.url}/rooms/r1/messages",
            json={"client_id": "rest-during-outage", "body": "b"},
            headers=auth(b),
            timeout=15,
        )
        assert rest.status_code == 201
        with open_ws(b, token(b), "r1", after=last) as ws:
            ready, replayed = recv_until(ws, "ready")
        assert [m["id"] for m in replayed] == [acked, rest.json()["id"]]
        assert ready["last_id"] == rest.json()["id"]
        own_redis.start()
        wait_until(lambda: subscribed(a) and subscribed(b), what="replicas subscribed again")
        assert readyz(a).json()["unreachable"] == []
        assert {m["client_id"] for m in messages_until(stay, 2, timeout=30)} == {
            "ws-during-outage",
            "rest-during-outage",
        }
    with open_ws(b, token(b), "r1") as on_b:
        recv_until(on_b, "ready")
        httpx.post(f"{a.url}/rooms/r1/messages", json={"client_id": "after", "body": "c"}, headers=auth(a))
        assert messages_until(on_b, 1)[0]["client_id"] == "after"


def test_database_down_is_503_then_recovers(
    own_postgres: PostgresServer, redis_server: RedisServer, start_replicas: StartReplicas
) -> None:
    """With PostgreSQL stopped: readyz 503 naming the database, sends answer 503 (REST) or an error frame
    (WS) within the send deadline instead of hanging; after a restart the same replica serves again."""
    dsn = own_postgres.create_database("chat")
    (a,) = start_replicas(1, chat_env(dsn, redis_server.url(), CHAT_SEND_TIMEOUT_S="3"))
    h = auth(a)
    with open_ws(a, token(a), "r1") as ws:
        recv_until(ws, "ready")
        own_postgres.stop()
        wait_until(lambda: readyz(a).status_code == 503, what="readyz 503")
        body = readyz(a).json()
        assert body["status"] == "unready"
        assert "database" in body["unreachable"]
        started = time.monotonic()
        r = httpx.post(f"{a.url}/rooms/r1/messages", json={"client_id": "down-1", "body": "x"}, headers=h, timeout=30)
        assert r.status_code == 503
        assert time.monotonic() - started < 15
        assert r.json()["error"].startswith("database unavailable")
        assert httpx.get(f"{a.url}/rooms/r1/messages", headers=h, timeout=30).status_code == 503
        send(ws, "down-ws", "x")
        err = recv_until(ws, "error", timeout=30)[0]
        assert (err["status"], err["client_id"]) == (503, "down-ws")
        own_postgres.restart() if own_postgres.proc else own_postgres._launch()
        wait_until(lambda: readyz(a).status_code == 200, what="readyz 200 again")
        send(ws, "down-ws", "x")
        assert recv_until(ws, "ack", timeout=30)[0]["client_id"] == "down-ws"
    again = httpx.post(f"{a.url}/rooms/r1/messages", json={"client_id": "down-1", "body": "x"}, headers=h)
    assert again.status_code == 201
    assert "chat_db_errors_total{" in httpx.get(f"{a.url}/metrics").text


def test_send_during_a_short_outage_is_retried_server_side(
    own_postgres: PostgresServer, redis_server: RedisServer, start_replicas: StartReplicas
) -> None:
    """A send that arrives while the database restarts succeeds (201) once it is back within the deadline."""
    dsn = own_postgres.create_database("chat")
    (a,) = start_replicas(1, chat_env(dsn, redis_server.url(), CHAT_SEND_TIMEOUT_S="30"))
    h = auth(a)
    own_postgres.stop()
    result: list[httpx.Response] = []
    sender = threading.Thread(
        target=lambda: result.append(
            httpx.post(f"{a.url}/rooms/r1/messages", json={"client_id": "during", "body": "x"}, headers=h, timeout=60)
        )
    )
    sender.start()
    time.sleep(1.0)
    own_postgres._launch()
    sender.join(60)
    assert [r.status_code for r in result] == [201]
    listed = httpx.get(f"{a.url}/rooms/r1/messages", headers=h).json()["messages"]
    assert [m["client_id"] for m in listed] == ["during"]


# The pool retries a lost connection after at most chat.db.RECONNECT_MAX_S (0.5 s); a send issued once
# PostgreSQL accepts queries again then needs one connect and one round trip. 1.5 s more absorbs a busy
# 2-core box. Without the ceiling psycopg_pool's backoff (1, 2, 4, 8 s) made it wait up to 8 s more.
_BACK_WITHIN_S = 0.5 + 1.5


def test_sends_recover_as_soon_as_the_database_is_back(
    own_postgres: PostgresServer, redis_server: RedisServer, start_replicas: StartReplicas
) -> None:
    """After an 8 s outage that the pool noticed, a send issued the moment PostgreSQL answers again is stored
    within the reconnect ceiling (the service recovers when its dependency does, not at its next backoff)."""
    dsn = own_postgres.create_database("chat")
    (a,) = start_replicas(1, chat_env(dsn, redis_server.url(), CHAT_SEND_TIMEOUT_S="2", CHAT_DB_POOL_MAX="4"))
    h = auth(a)
    url = f"{a.url}/rooms/r1/messages"
    assert httpx.post(url, json={"client_id": "before", "body": "x"}, headers=h, timeout=30).status_code == 201
    own_postgres.stop()
    outage_end = time.monotonic() + 8.0
    codes: list[int] = []

    def post(i: int) -> None:
        codes.append(httpx.post(url, json={"client_id": f"down-{i}", "body": "x"}, headers=h, timeout=30).status_code)

    while time.monotonic() < outage_end:
        # a burst of sends fills the pool with connection slots that fail to reconnect (their backoff grows)
        burst = [threading.Thread(target=post, args=(i,)) for i in range(12)]
        for thread in burst:
            thread.start()
        for thread in burst:
            thread.join(30)
    assert set(codes) == {503}
    own_postgres._launch()  # returns once PostgreSQL accepts queries
    started = time.monotonic()
    r = httpx.post(url, json={"client_id": "back", "body": "x"}, headers=h, timeout=30)
    took = time.monotonic() - started
    assert r.status_code == 201, r.text
    assert took < _BACK_WITHIN_S, f"the first send after the outage took {took:.2f} s"


def test_read_only_primary_is_unready_and_sends_recover_after_it(
    own_postgres: PostgresServer, redis_server: RedisServer, start_replicas: StartReplicas
) -> None:
    """A primary that turns read-only (as a demoted one does) makes readyz 503 and sends 503 without
    storing anything; once it is writable again the pooled connections are replaced and sends succeed."""
    dsn = own_postgres.create_database("chat")
    (a,) = start_replicas(1, chat_env(dsn, redis_server.url(), CHAT_SEND_TIMEOUT_S="3"))
    h = auth(a)

    def post(cid):
        return httpx.post(
            f"{a.url}/rooms/r1/messages",
            json={"client_id": cid, "body": "x"},
            headers=h,
            timeout=30,
        )

    assert post("before").status_code == 201
    admin = psycopg.connect(own_postgres.dsn(), autocommit=True)
    try:
        admin.execute("ALTER SYSTEM SET default_transaction_read_only = on")
        admin.execute("SELECT pg_reload_conf()")
        wait_until(lambda: readyz(a).status_code == 503, what="readyz 503 on a read-only primary")
        assert post("during").status_code == 503
        admin.execute("ALTER SYSTEM RESET default_transaction_read_only")
        admin.execute("SELECT pg_reload_conf()")
    finally:
        admin.close()
    wait_until(lambda: readyz(a).status_code == 200, what="readyz 200 again")
    assert post("during").status_code == 201
    listed = httpx.get(f"{a.url}/rooms/r1/messages", headers=h).json()["messages"]
    assert [m["client_id"] for m in listed] == ["before", "during"]


def test_rate_limit_is_shared_by_the_replicas_also_while_redis_is_down(
    pg_dsn: str, own_redis: RedisServer, start_replicas: StartReplicas
) -> None:
    """One user alternating two replicas gets the burst once (the bucket lives in the database, checked by
    the send's own statement), not once per replica; with Redis stopped the same holds, and sends work."""
    env = chat_env(pg_dsn, own_redis.url(), CHAT_RATE_LIMIT="0.2", CHAT_RATE_BURST="3")
    a, b = start_replicas(2, env)

    def codes(user: str, n: int) -> list[int]:
        out = []
        for i in range(n):
            r = (a, b)[i % 2]
            body = {"client_id": f"{user}-{i}", "body": "x"}
            out.append(
                httpx.post(f"{r.url}/rooms/r1/messages", json=body, headers=auth(r, user), timeout=15).status_code
            )
        return out

    assert codes("shared", 6) == [201, 201, 201, 429, 429, 429]
    own_redis.stop()
    wait_until(lambda: readyz(a).json()["unreachable"] == ["redis"], what="readyz names redis")
    assert codes("alone", 6) == [201, 201, 201, 429, 429, 429]
