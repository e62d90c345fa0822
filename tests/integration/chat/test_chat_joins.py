"""Sockets that join a room at the same moment on a replica where the room has no socket yet (a herd of
clients reconnecting after a 1012, as when a blue-green deploy retires the old colour) each receive every
message after their join point, none skipped."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
import requests
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chat.launcher import ChatReplica
from tests.integration.chat.conftest import StartReplicas, chat_env, token
from tests.integration.chat.wsclient import open_ws, recv_json, recv_until, send
from tests.integration.netfault.conftest import start_netfault
from tests.support.servers import RedisServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ROUNDS = 15
JOINERS = 8
WRITERS = 4
LISTEN_S = 1.5


def _write(url: str, tok: str, room: str, prefix: str, *, stop: threading.Event, errors: list[str]) -> None:
    """Send to ``room`` one message at a time (each waits for its ack) until ``stop``."""
    try:
        with open_ws(url, tok, room) as ws:
            recv_until(ws, "ready")
            i = 0
            while not stop.is_set():
                send(ws, f"{prefix}-{i}", "x")
                recv_until(ws, "ack", timeout=30)
                i += 1
    except Exception as exc:  # noqa: BLE001 - reported to the test thread
        errors.append(f"writer {prefix}: {exc!r}")


def _join(url: str, tok: str, room: str, *, after: int | None, go: threading.Barrier, out: dict[str, object]) -> None:
    """Join ``room`` when every joiner is ready to; record the join point and every id received in the
    ``LISTEN_S`` after ``ready``."""
    try:
        go.wait(30)
        with open_ws(url, tok, room, after=after) as ws:
            ids: list[int] = []
            while True:
                frame = recv_json(ws)
                if frame["type"] == "ready":
                    out["join"] = int(frame["last_id"]) if after is None else after  # what it must get from here
                    break
                if frame["type"] == "message":
                    ids.append(int(frame["id"]))
            until = time.monotonic() + LISTEN_S
            while time.monotonic() < until:
                frame = recv_json(ws)
                if frame["type"] == "message":
                    ids.append(int(frame["id"]))
            out["ids"] = ids
    except Exception as exc:  # noqa: BLE001 - reported to the test thread
        out["error"] = repr(exc)


def test_sockets_joining_a_new_room_together_each_get_every_later_message(
    pg_dsn: str, redis_server: RedisServer, start_replicas: StartReplicas
) -> None:
    """Writers on replica A; on replica B, where the room has no socket yet, 8 sockets join it at once while
    messages keep arriving (through Redis). Each socket receives every message after its join point up to
    the highest it received: the first socket's replay fixes the room's position on B, and a socket whose
    replay ended below that position must still get the messages in between."""
    env = chat_env(pg_dsn, redis_server.url(), CHAT_RATE_LIMIT="100000", CHAT_REBALANCE="0")  # B keeps its herd
    (a,) = start_replicas(1, env)
    proxy = start_netfault()
    try:
        (b,) = start_replicas(1, {**env, "CHAT_DATABASE_URL": _jittered(proxy.url, pg_dsn)})
        problems = _rounds(pg_dsn, a, b)
    finally:
        proxy.stop()
        proxy.log.unlink(missing_ok=True)
    assert problems == []


def _jittered(api: str, dsn: str) -> str:
    """``dsn`` through a fault proxy whose answers from PostgreSQL take 0-20 ms (a busy box: the answers to
    queries sent at once on different connections come back in any order)."""
    params = conninfo_to_dict(dsn)
    port = free_port()
    upstream = f"{params.get('host', '127.0.0.1')}:{params.get('port', 5432)}"
    requests.post(
        f"{api}/proxies", json={"name": "pg", "listen": f"127.0.0.1:{port}", "upstream": upstream}, timeout=10
    ).raise_for_status()
    toxic = {"type": "latency", "stream": "downstream", "attributes": {"latency": 10, "jitter": 10}}
    requests.post(f"{api}/proxies/pg/toxics", json=toxic, timeout=10).raise_for_status()
    return make_conninfo(dsn, host="127.0.0.1", port=str(port))


def _rounds(pg_dsn: str, a: ChatReplica, b: ChatReplica) -> list[str]:
    problems: list[str] = []
    for n in range(ROUNDS):
        room = f"herd-{n}-{uuid.uuid4().hex[:6]}"
        stop, errors = threading.Event(), list[str]()
        writers = [
            threading.Thread(
                target=_write,
                args=(a.ws_url, token(a, f"w{i}"), room, f"w{i}"),
                kwargs={"stop": stop, "errors": errors},
            )
            for i in range(WRITERS)
        ]
        for w in writers:
            w.start()
        time.sleep(0.3)
        go = threading.Barrier(JOINERS)
        results: list[dict[str, object]] = [{} for _ in range(JOINERS)]
        joiners = [
            threading.Thread(
                target=_join,
                args=(b.ws_url, token(b, f"j{i}"), room),
                kwargs={"after": None, "go": go, "out": results[i]},
            )
            for i in range(JOINERS)
        ]
        for j in joiners:
            j.start()
        for j in joiners:
            j.join(60)
        stop.set()
        for w in writers:
            w.join(60)
        assert errors == []
        with psycopg.connect(pg_dsn) as conn:
            stored = [r[0] for r in conn.execute("SELECT id FROM messages WHERE room = %s ORDER BY id", (room,))]
        for i, res in enumerate(results):
            assert "error" not in res, res["error"]
            ids = res["ids"]
            assert isinstance(ids, list) and ids, f"round {n}, joiner {i} received nothing"
            join = int(res["join"])  # type: ignore[call-overload]
            if ids != sorted(ids):
                problems.append(f"round {n}, joiner {i}: ids out of order {ids[:12]}")
            got = set(ids)
            missing = [m for m in stored if join < m < max(ids) and m not in got]
            if missing:
                problems.append(f"round {n}, joiner {i} (joined at {join}): never got {missing[:5]} below {max(ids)}")
    return problems
