"""Bad-input and trust-boundary hardening of the chat service (issue 15), against real replicas, PostgreSQL
and Redis: the token issuer switch, iss/aud claims, the replay cap, and signed fan-out."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import jwt
import pytest
import redis
from websockets.exceptions import ConnectionClosed

from tests.integration.chat.conftest import ISSUER_SECRET, JWT_SECRET, StartReplicas, token
from tests.integration.chat.wsclient import messages_until, open_ws, recv_until, send
from tests.support.servers import RedisServer

pytestmark = pytest.mark.integration


def test_token_issuer_can_be_switched_off(start_replicas: StartReplicas, env: dict[str, str]) -> None:
    """CHAT_TOKEN_ISSUER=0: POST /auth/token is a 404 even with the right issuer secret."""
    replica = start_replicas(1, {**env, "CHAT_TOKEN_ISSUER": "0"})[0]
    r = httpx.post(
        f"{replica.url}/auth/token", json={"user": "u"}, headers={"X-Issuer-Secret": ISSUER_SECRET}, timeout=10
    )
    assert r.status_code == 404 and "switched off" in r.json()["error"]


@pytest.mark.parametrize(
    "claims",
    [
        {},  # no iss, no aud (a token of another service sharing the key)
        {"iss": "resilience-chat", "aud": "billing"},
        {"iss": "someone-else", "aud": "chat"},
    ],
)
def test_tokens_must_carry_our_issuer_and_audience(
    start_replicas: StartReplicas, env: dict[str, str], claims: dict[str, str]
) -> None:
    """A correctly signed token without our iss/aud is refused: 401 on REST, 1008 on the WebSocket."""
    replica = start_replicas(1, env)[0]
    forged = jwt.encode({"sub": "u", "exp": int(time.time()) + 60, **claims}, JWT_SECRET, algorithm="HS256")
    r = httpx.get(f"{replica.url}/rooms/r1/messages", headers={"Authorization": f"Bearer {forged}"}, timeout=10)
    assert r.status_code == 401
    with open_ws(replica, forged, "r1") as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_replay_is_capped_and_the_client_resumes(start_replicas: StartReplicas, env: dict[str, str]) -> None:
    """With CHAT_REPLAY_MAX=5, after=0 over 12 messages replays 5 then closes 4429 naming the last id; the
    client resumes with after=<that id> and gets the next 5, then the last 2 and ready."""
    replica = start_replicas(1, {**env, "CHAT_REPLAY_MAX": "5"})[0]
    t = token(replica)
    headers = {"Authorization": f"Bearer {t}"}
    for i in range(12):
        r = httpx.post(f"{replica.url}/rooms/cap/messages", json={"client_id": f"c{i}", "body": "x"}, headers=headers)
        assert r.status_code == 201
    after, seen = 0, []
    for expect in (5, 5):
        with open_ws(replica, t, "cap", after=after) as ws:
            got = messages_until(ws, expect)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
        after = got[-1]["id"]
        assert closed.value.rcvd.reason.endswith(f"after={after}")
        seen += got
    with open_ws(replica, t, "cap", after=after) as ws:
        ready, rest = recv_until(ws, "ready")
    seen += rest
    assert [m["client_id"] for m in seen] == [f"c{i}" for i in range(12)]
    assert ready["last_id"] == seen[-1]["id"]


def test_forged_fanout_payloads_are_dropped_and_counted(
    start_replicas: StartReplicas, env: dict[str, str], redis_server: RedisServer
) -> None:
    """Whoever reaches Redis can publish on the channel; unsigned or mis-signed payloads reach no WebSocket
    and count in chat_fanout_rejected_total, while signed ones from a peer replica still arrive."""
    a, b = start_replicas(2, env)
    t = token(a)
    room = f"r-{uuid.uuid4().hex[:6]}"
    forged = {
        "origin": "evil",
        "message": {"id": 10**9, "room": room, "client_id": "f", "sender": "admin", "body": "pwned", "ts": 0},
    }
    with open_ws(b, t, room) as ws:
        recv_until(ws, "ready")
        client = redis.Redis.from_url(redis_server.url())
        try:
            for payload in (json.dumps(forged), "0" * 64 + "." + json.dumps(forged), "garbage"):
                client.publish(env["CHAT_REDIS_CHANNEL"], payload)
        finally:
            client.close()
        with open_ws(a, t, room) as sender:
            recv_until(sender, "ready")
            send(sender, "real", "hello")
            recv_until(sender, "ack")
        got = messages_until(ws, 1)
    assert [m["client_id"] for m in got] == ["real"]
    metrics = httpx.get(f"{b.url}/metrics", timeout=10).text
    assert "chat_fanout_rejected_total 3.0" in metrics


def test_deeply_nested_json_and_binary_frames_get_422s(start_replicas: StartReplicas, env: dict[str, str]) -> None:
    """5,000 nested brackets (a RecursionError in the decoder: a 500) and a binary WebSocket frame (KeyError in
    receive_text: the connection died with a server error) are answered 422; the socket stays usable."""
    replica = start_replicas(1, env)[0]
    t = token(replica)
    r = httpx.post(
        f"{replica.url}/rooms/r1/messages",
        content=b"[" * 5000,
        headers={"Authorization": f"Bearer {t}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 422, r.text
    with open_ws(replica, t, "deep") as ws:
        recv_until(ws, "ready")
        ws.send("[" * 5000)
        assert recv_until(ws, "error")[0]["status"] == 422
        ws.send(b"\x00\x01binary")
        assert recv_until(ws, "error")[0]["status"] == 422
        send(ws, "after-junk", "still here")
        assert recv_until(ws, "ack")[0]["client_id"] == "after-junk"
