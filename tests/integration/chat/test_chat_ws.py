"""WebSocket behaviour: ack after commit, replay with after=, fan-out across replicas, auth closes."""

from __future__ import annotations

import json
import threading
import time

import httpx
import jwt
import psycopg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from chat.launcher import ChatReplica
from tests.integration.chat.conftest import JWT_SECRET, StartReplicas, auth, chat_env, token
from tests.integration.chat.wsclient import messages_until, open_ws, recv_json, recv_until, send
from tests.support.servers import RedisServer

pytestmark = pytest.mark.integration


def test_ack_comes_after_the_commit(replica: ChatReplica, pg_dsn: str) -> None:
    """When the ack arrives the row is already committed and visible to another connection."""
    with open_ws(replica, token(replica), "r1") as ws, psycopg.connect(pg_dsn, autocommit=True) as conn:
        assert recv_json(ws) == {"type": "ready", "last_id": 0, "replica": replica.env["CHAT_REPLICA"]}
        for i in range(20):
            send(ws, f"c{i}", f"body {i}")
            ack, _ = recv_until(ws, "ack")
            row = conn.execute(
                "SELECT id, body FROM messages WHERE room = 'r1' AND client_id = %s", (f"c{i}",)
            ).fetchone()
            assert row == (ack["id"], f"body {i}")
            assert ack["client_id"] == f"c{i}"
            assert isinstance(ack["ts"], float)


def test_ws_send_is_idempotent_and_pushes_once(replica: ChatReplica) -> None:
    """Resending a client_id acks the same id and the socket sees that message only once."""
    with open_ws(replica, token(replica), "r1") as ws:
        recv_until(ws, "ready")
        send(ws, "dup", "one")
        first, frames = recv_until(ws, "ack")
        send(ws, "dup", "two")
        again, more = recv_until(ws, "ack")
        frames += more
        send(ws, "next", "three")
        _, more = recv_until(ws, "ack")
        frames += more
        assert again["id"] == first["id"]
        pushed = [f["client_id"] for f in frames if f["type"] == "message"]
        while "next" not in pushed:  # the push of "next" may come after its ack
            pushed += [m["client_id"] for m in messages_until(ws, 1)]
        assert pushed == ["dup", "next"]


def test_ws_errors_for_bad_frames(replica: ChatReplica) -> None:
    """Non-JSON, a wrong type, an oversized body and a NUL character get an error frame with a status, not a
    disconnect."""
    with open_ws(replica, token(replica), "r1") as ws:
        recv_until(ws, "ready")
        ws.send("not json")
        assert recv_until(ws, "error")[0]["status"] == 422
        ws.send('{"type": "hello", "client_id": "x"}')
        err, _ = recv_until(ws, "error")
        assert (err["status"], err["client_id"]) == (422, "x")
        send(ws, "big", "x" * 5000)
        err, _ = recv_until(ws, "error")
        assert (err["status"], err["client_id"]) == (413, "big")
        send(ws, "nul", "a\x00b")
        err, _ = recv_until(ws, "error")
        assert (err["status"], err["client_id"]) == (422, "nul")
        send(ws, "fine", "ok")
        assert recv_until(ws, "ack")[0]["client_id"] == "fine"


def test_replay_after_then_ready_then_live(replica: ChatReplica) -> None:
    """Connecting with after=<id> replays the later messages in id order, then ready, then live pushes."""
    h = auth(replica)
    ids = [
        httpx.post(f"{replica.url}/rooms/r1/messages", json={"client_id": f"c{i}", "body": str(i)}, headers=h).json()[
            "id"
        ]
        for i in range(6)
    ]
    with open_ws(replica, token(replica, "u2"), "r1", after=ids[2]) as ws:
        ready, replayed = recv_until(ws, "ready")
        assert [m["id"] for m in replayed] == ids[3:]
        assert ready["last_id"] == ids[-1]
        live = httpx.post(f"{replica.url}/rooms/r1/messages", json={"client_id": "live", "body": "new"}, headers=h)
        assert messages_until(ws, 1)[0]["id"] == live.json()["id"]


def test_fanout_across_two_replicas(start_replicas: StartReplicas, env: dict[str, str]) -> None:
    """A message sent on replica A (REST and WS) is pushed to a WebSocket on replica B through Redis."""
    a, b = start_replicas(2, env)
    with open_ws(b, token(b, "bob"), "room-x") as on_b, open_ws(a, token(a, "amy"), "room-x") as on_a:
        recv_until(on_b, "ready")
        recv_until(on_a, "ready")
        r = httpx.post(
            f"{a.url}/rooms/room-x/messages", json={"client_id": "rest-1", "body": "via rest"}, headers=auth(a, "amy")
        )
        send(on_a, "ws-1", "via ws")
        got = messages_until(on_b, 2)
        assert {m["client_id"] for m in got} == {"rest-1", "ws-1"}
        assert r.json()["id"] in {m["id"] for m in got}
        assert all(m["sender"] == "amy" for m in got)


def test_other_rooms_are_not_pushed(start_replicas: StartReplicas, env: dict[str, str]) -> None:
    """A socket receives only its own room's messages."""
    a, b = start_replicas(2, env)
    with open_ws(b, token(b), "quiet") as ws:
        recv_until(ws, "ready")
        h = auth(a)
        httpx.post(f"{a.url}/rooms/noisy/messages", json={"client_id": "n1", "body": "x"}, headers=h)
        httpx.post(f"{a.url}/rooms/quiet/messages", json={"client_id": "q1", "body": "x"}, headers=h)
        assert [m["client_id"] for m in messages_until(ws, 1)] == ["q1"]


@pytest.mark.parametrize("case", ["missing", "forged", "expired"])
def test_ws_auth_failure_closes_1008(replica: ChatReplica, case: str) -> None:
    """A WebSocket without a valid token is closed with policy-violation code 1008."""
    now = int(time.time())
    t = {
        "missing": "",
        "forged": jwt.encode({"sub": "u", "exp": now + 60}, "x" * 32, algorithm="HS256"),
        "expired": jwt.encode({"sub": "u", "exp": now - 60}, JWT_SECRET, algorithm="HS256"),
    }[case]
    with open_ws(replica, t, "r1") as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


def test_ws_bearer_header_is_accepted(replica: ChatReplica) -> None:
    """The token may also come in an Authorization: Bearer header."""
    headers = {"Authorization": f"Bearer {token(replica)}"}
    with connect(f"{replica.ws_url}?room=r1", additional_headers=headers, open_timeout=10) as ws:
        assert recv_json(ws)["type"] == "ready"


@pytest.mark.parametrize(
    "query",
    [
        "room=bad%20room",
        "room=r1&after=-1",
        "room=r1&after=99999999999999999999",
        "room=r1&after=%C2%B2",  # '²' passes str.isdigit() but not int()
        "room=r1&after=" + "9" * 5000,  # more digits than int() converts
        "room=r1&after=" + "%C2%B2" * 40,  # a reason over 123 bytes unless cut
    ],
)
def test_ws_bad_query_closes_4422(replica: ChatReplica, query: str) -> None:
    """An invalid room or after= closes the socket with code 4422 and a reason naming the parameter."""
    with (
        connect(f"{replica.ws_url}?{query}&token={token(replica)}", open_timeout=10) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4422
    assert closed.value.rcvd.reason.split(":")[0] in ("room", "after")
    assert len(closed.value.rcvd.reason.encode()) <= 123
    assert httpx.get(f"{replica.url}/healthz", timeout=5).status_code == 200


def test_a_socket_that_stops_reading_is_closed_1013_and_catches_up_with_after(
    pg_dsn: str, redis_server: RedisServer, start_replicas: StartReplicas
) -> None:
    """A client that stops reading while its room is busy: its inbox (1,000 messages) overflows, the server
    closes it with 1013 instead of buffering without bound, and a reconnect with after=<last id it read>
    replays the rest, nothing missing."""
    env = chat_env(pg_dsn, redis_server.url(), CHAT_RATE_LIMIT="100000", CHAT_MAX_BODY_BYTES="65536")
    (a,) = start_replicas(1, env)
    room = "slow"
    slow = connect(f"{a.ws_url}?room={room}&token={token(a, 'slow')}", open_timeout=10, max_queue=1)
    first = json.loads(slow.recv(timeout=10))
    assert first["type"] == "ready"
    body = "x" * 32_000
    sent: list[int] = []

    def writer(i: int) -> None:
        with open_ws(a, token(a, f"w{i}"), room) as ws:
            recv_until(ws, "ready")
            for j in range(400):
                send(ws, f"w{i}-{j}", body)
                sent.append(recv_until(ws, "ack", timeout=30)[0]["id"])

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert len(sent) == 1600
    received: list[int] = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            frame = json.loads(slow.recv(timeout=30))
            if frame["type"] == "message":
                received.append(frame["id"])
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert 0 < len(received) < len(sent)
    assert received == sorted(received)
    with open_ws(a, token(a, "slow"), room, after=received[-1]) as again:
        _, replayed = recv_until(again, "ready", timeout=60)
    assert received + [m["id"] for m in replayed] == sorted(sent)
