"""REST API of the chat service against a real replica, PostgreSQL and Redis."""

from __future__ import annotations

import time

import httpx
import jwt
import psycopg
import pytest

from chat.launcher import ChatReplica
from tests.integration.chat.conftest import ISSUER_SECRET, JWT_SECRET, StartReplicas, auth, token
from tests.integration.chat.wsclient import open_ws, recv_until, send

pytestmark = pytest.mark.integration


def _post(replica: ChatReplica, headers: dict[str, str], room: str = "r1", **body: object) -> httpx.Response:
    return httpx.post(f"{replica.url}/rooms/{room}/messages", json=body, headers=headers, timeout=15)


def test_send_is_idempotent_on_room_and_client_id(replica: ChatReplica, pg_dsn: str) -> None:
    """A repeated (room, client_id) returns the stored message with 200 and stores no duplicate."""
    h = auth(replica)
    first = _post(replica, h, client_id="c-1", body="hello")
    again = _post(replica, h, client_id="c-1", body="hello again")
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert set(first.json()) == {"id", "room", "sender", "body", "ts", "client_id", "seq"}
    assert first.json()["seq"] == 1  # the room's first message: its sequence starts at 1
    assert first.json()["sender"] == "u1"
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute("SELECT count(*) FROM messages WHERE room = 'r1' AND client_id = 'c-1'").fetchone()
    assert rows == (1,)


def test_history_after_and_limit(replica: ChatReplica) -> None:
    """GET messages?after=&limit= returns the later messages ascending by id, at most limit."""
    h = auth(replica)
    ids = [_post(replica, h, client_id=f"c{i}", body=f"m{i}").json()["id"] for i in range(5)]
    r = httpx.get(f"{replica.url}/rooms/r1/messages", params={"after": ids[1], "limit": 2}, headers=h)
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["messages"]] == ids[2:4]
    everything = httpx.get(f"{replica.url}/rooms/r1/messages", headers=h).json()["messages"]
    assert [m["body"] for m in everything] == [f"m{i}" for i in range(5)]


def test_token_issuer_requires_the_shared_secret(replica: ChatReplica) -> None:
    """POST /auth/token answers 403 without or with a wrong X-Issuer-Secret, 200 with the right one."""
    url = f"{replica.url}/auth/token"
    assert httpx.post(url, json={"user": "u1"}).status_code == 403
    assert httpx.post(url, json={"user": "u1"}, headers={"X-Issuer-Secret": "nope"}).status_code == 403
    ok = httpx.post(url, json={"user": "u1", "ttl_s": 60}, headers={"X-Issuer-Secret": ISSUER_SECRET})
    assert ok.status_code == 200
    assert ok.json()["expires_at"] >= time.time() + 50
    bad = httpx.post(url, json={"user": ""}, headers={"X-Issuer-Secret": ISSUER_SECRET})
    assert bad.status_code == 422


@pytest.mark.parametrize("case", ["missing", "forged", "expired", "garbage"])
def test_rest_rejects_bad_tokens(replica: ChatReplica, case: str) -> None:
    """Missing, forged (wrong key), expired and malformed bearer tokens get 401 on send and history."""
    now = int(time.time())
    tokens = {
        "missing": None,
        "forged": jwt.encode({"sub": "u1", "exp": now + 600}, "k" * 40, algorithm="HS256"),
        "expired": jwt.encode({"sub": "u1", "iat": now - 600, "exp": now - 300}, JWT_SECRET, algorithm="HS256"),
        "garbage": "abc.def.ghi",
    }
    t = tokens[case]
    h = {"Authorization": f"Bearer {t}"} if t else {}
    assert _post(replica, h, client_id="c", body="x").status_code == 401
    assert httpx.get(f"{replica.url}/rooms/r1/messages", headers=h).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "x"}, "client_id"),
        ({"client_id": "c"}, "body"),
        ({"client_id": 5, "body": "x"}, "client_id"),
        ({"client_id": "c", "body": ""}, "body"),
        ({"client_id": "c" * 129, "body": "x"}, "client_id"),
    ],
)
def test_validation_errors_are_422_naming_the_field(replica: ChatReplica, body: dict[str, object], field: str) -> None:
    """A send with a missing, mistyped or empty field is refused with 422 and an error naming it."""
    r = httpx.post(f"{replica.url}/rooms/r1/messages", json=body, headers=auth(replica))
    assert r.status_code == 422
    assert r.json()["error"].startswith(field)


def test_bad_room_and_query_are_422(replica: ChatReplica) -> None:
    """An invalid room name or a non-integer after= is a 422, not a server error."""
    h = auth(replica)
    assert _post(replica, h, room="bad room!", client_id="c", body="x").status_code == 422
    r = httpx.get(f"{replica.url}/rooms/r1/messages", params={"after": "x"}, headers=h)
    assert r.status_code == 422
    assert "after" in r.json()["error"]
    not_json = httpx.post(f"{replica.url}/rooms/r1/messages", content=b"{", headers=h)
    assert not_json.status_code == 422


def test_size_limit_is_413(start_replicas: StartReplicas, env: dict[str, str]) -> None:
    """A body over CHAT_MAX_BODY_BYTES (counted in UTF-8 bytes) is refused with 413; at the limit it passes."""
    (replica,) = start_replicas(1, {**env, "CHAT_MAX_BODY_BYTES": "64"})
    h = auth(replica)
    assert _post(replica, h, client_id="ok", body="x" * 64).status_code == 201
    r = _post(replica, h, client_id="big", body="é" * 33)
    assert r.status_code == 413
    assert "66 bytes" in r.json()["error"]
    huge = _post(replica, h, client_id="huge", body="x" * 100_000)
    assert huge.status_code == 413


def test_rate_limit_is_429_per_user(start_replicas: StartReplicas, env: dict[str, str]) -> None:
    """Past the burst a user gets 429 with Retry-After (REST) or an error frame with status 429 (WebSocket,
    same bucket), while another user can still send. One token per 100 s: no refill within the test on a busy box."""
    (replica,) = start_replicas(1, {**env, "CHAT_RATE_LIMIT": "0.01", "CHAT_RATE_BURST": "3"})
    h1, h2 = auth(replica, "u1"), auth(replica, "u2")
    codes = [_post(replica, h1, client_id=f"c{i}", body="x").status_code for i in range(5)]
    assert codes[:3] == [201, 201, 201]
    assert codes[3:] == [429, 429]
    limited = _post(replica, h1, client_id="c9", body="x")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    with open_ws(replica, token(replica, "u1"), "r1") as ws:
        recv_until(ws, "ready")
        send(ws, "ws-limited", "x")
        err, _ = recv_until(ws, "error")
        assert (err["status"], err["client_id"]) == (429, "ws-limited")
    assert _post(replica, h2, client_id="other", body="x").status_code == 201


def test_health_ready_and_metrics(replica: ChatReplica) -> None:
    """healthz names release and replica; readyz is 200; /metrics exposes the chat_ instruments."""
    health = httpx.get(f"{replica.url}/healthz").json()
    assert health == {"status": "ok", "release": "good", "replica": "chat-1"}
    ready = httpx.get(f"{replica.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["unreachable"] == []
    _post(replica, auth(replica), client_id="m1", body="x")
    text = httpx.get(f"{replica.url}/metrics").text
    for name in (
        "chat_request_duration_seconds_bucket",
        "chat_ws_connections",
        "chat_messages_sent_total",
        "chat_messages_acked_total",
        "chat_db_errors_total",
        'chat_release_info{release="good"',
    ):
        assert name in text
    assert "chat_db_reachable 1.0" in text
    assert 'chat_messages_acked_total{created="true",transport="rest"} 1.0' in text
    assert httpx.get(f"{replica.url}/healthz", headers={"X-Request-ID": "rid-1"}).headers["x-request-id"] == "rid-1"


def test_token_from_issuer_identifies_the_sender(replica: ChatReplica) -> None:
    """The sender of a stored message is the user named in the bearer token."""
    t = token(replica, "alice")
    r = _post(replica, {"Authorization": f"Bearer {t}"}, client_id="a1", body="hi")
    assert r.json()["sender"] == "alice"
