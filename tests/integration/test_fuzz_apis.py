"""Fuzzing the two HTTP APIs with hypothesis: the fault proxy's Toxiproxy API and the chat REST API.

Both run in-process (the fault proxy's aiohttp app on one loop; the chat app through Starlette's
TestClient over real PostgreSQL and Redis). Every request gets a deliberate answer (never a 500 from an
unhandled error); a refused request changes nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import time
import uuid
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from chat.app import create_app
from chat.config import Settings
from resilience.netfault.api import Api, build_app
from tests.support.fuzz import CASES, HOSTILE_JSON, fast, junk, mutated
from tests.support.servers import RedisServer

pytestmark = pytest.mark.integration

_SAFE_LISTEN = st.sampled_from(["127.0.0.1:0", "", "nowhere", "127.0.0.1:notaport", "[::1]:0", "127.0.0.1:-1"])


def _tame(value: Any, listen: str) -> Any:
    """Every ``listen`` field (any case, any depth) pinned to loopback or junk: fuzzing binds no real port."""
    if isinstance(value, dict):
        return {k: (listen if k.lower() == "listen" else _tame(v, listen)) for k, v in value.items()}
    if isinstance(value, list):
        return [_tame(v, listen) for v in value]
    return value


class _Netfault:
    """The fault proxy's app on its own event loop, with proxy ``p`` and toxic ``t`` before each request."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.api = Api()
        self.client = TestClient(TestServer(build_app(self.api)), loop=self.loop)
        self.loop.run_until_complete(self.client.start_server())

    def call(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, dict[str, Any]]:
        async def go() -> tuple[int, bytes, dict[str, Any]]:
            async with self.client.request(method, path, data=body, headers=headers) as r:
                return r.status, await r.read(), await self.state()

        return self.loop.run_until_complete(go())

    async def state(self) -> dict[str, Any]:
        async with self.client.get("/proxies") as r:
            result: dict[str, Any] = await r.json()
            return result

    def reset(self) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            for name in list(self.api.proxies):
                await self.client.delete(f"/proxies/{name}")
            await self.client.post("/proxies", json={"name": "p", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"})
            await self.client.post("/proxies/p/toxics", json={"name": "t", "type": "latency"})
            return await self.state()

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        async def go() -> None:
            for name in list(self.api.proxies):
                await self.client.delete(f"/proxies/{name}")
            await self.client.close()

        self.loop.run_until_complete(go())
        self.loop.close()


@pytest.fixture(scope="module")
def netfault() -> Iterator[_Netfault]:
    """The fault proxy API in-process; every proxy is deleted afterwards."""
    nf = _Netfault()
    try:
        yield nf
    finally:
        nf.close()


_ROUTES = st.sampled_from(
    [
        ("POST", "/proxies"),
        ("POST", "/populate"),
        ("POST", "/proxies/p"),
        ("PATCH", "/proxies/p"),
        ("POST", "/proxies/p/toxics"),
        ("POST", "/proxies/p/toxics/t"),
        ("PATCH", "/proxies/p/toxics/t"),
        ("POST", "/proxies/nope/toxics"),
        ("DELETE", "/proxies/p/toxics/none"),
        ("GET", "/proxies/p/toxics/t"),
        ("PUT", "/proxies"),
        ("POST", "/reset/x"),
    ]
)
_TOXIC = {"name": "x", "type": "latency", "stream": "upstream", "toxicity": 0.5, "attributes": {"latency": 10}}
_PROXY = {"name": "q", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9", "enabled": True}
_BODIES = st.one_of(
    mutated(_TOXIC).map(lambda d: json.dumps(d, default=str).encode()),
    mutated(_PROXY).map(lambda d: json.dumps(d, default=str).encode()),
    st.lists(mutated(_PROXY), max_size=3).map(lambda d: json.dumps(d, default=str).encode()),
    junk.map(lambda d: json.dumps(d, default=str).encode()),
    st.binary(max_size=64),
    HOSTILE_JSON,
)
_LEASE = st.one_of(st.none(), st.sampled_from(["1", "0", "-1", "nan", "inf", "1e309", "", "abc"]), st.text(max_size=6))


@fast(3000)
@given(route=_ROUTES, body=_BODIES, listen=_SAFE_LISTEN, lease=_LEASE)
def test_fault_proxy_api_bodies(
    netfault: _Netfault, route: tuple[str, str], body: bytes, listen: str, lease: str | None
) -> None:
    """Any body on any route: a Toxiproxy status, a JSON error (never an unhandled 500); a refusal changes nothing."""
    CASES["fault proxy API"] += 1
    before = netfault.reset()
    with contextlib.suppress(ValueError, UnicodeDecodeError, RecursionError):  # the test's own parse
        body = json.dumps(_tame(json.loads(body), listen), default=str).encode()
    headers = {"Content-Type": "application/json"}
    if lease is not None and lease.isprintable():
        headers["X-Netfault-Lease-Seconds"] = lease
    status, raw, after = netfault.call(*route, body, headers)
    assert status in (200, 201, 204, 400, 404, 405, 409, 500), (route, body, status, raw)
    if status == 500:  # only Toxiproxy's own 500s (bad listen address, already started), answered as JSON
        assert json.loads(raw)["status"] == 500, raw
    if status >= 400 and route[1] != "/populate":
        assert after == before, (route, body, status, raw)


# ---- chat ---------------------------------------------------------------------------------------------------

ISSUER = "fuzz-issuer-secret-0123456789"
JWT = "fuzz-jwt-secret-of-at-least-32-bytes!!"


@pytest.fixture(scope="module")
def chat(postgres_server: Any, redis_server: RedisServer) -> Iterator[tuple[Any, str, str]]:
    """The chat app in-process over a fresh database and the session's Redis: (client, token, dsn)."""
    with warnings.catch_warnings():  # starlette asks for httpx2; httpx is what this project installs
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient as StarletteClient  # noqa: PLC0415 - its warning is silenced here

    dsn = postgres_server.create_database(f"fuzz_{uuid.uuid4().hex[:10]}")
    settings_ = Settings(
        database_url=dsn,
        redis_url=redis_server.url(),
        redis_channel=f"fuzz-{uuid.uuid4().hex[:8]}",
        jwt_secret=JWT,
        issuer_secret=ISSUER,
        rate_limit=1e6,
        rate_burst=1e6,
        replica="fuzz",
    )
    with StarletteClient(create_app(settings_), raise_server_exceptions=False) as client:
        r = client.post("/auth/token", json={"user": "fuzzer"}, headers={"X-Issuer-Secret": ISSUER})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        deadline = time.monotonic() + 60
        while client.post(
            "/rooms/warm/messages", json={"client_id": "w", "body": "w"}, headers={"Authorization": f"Bearer {token}"}
        ).status_code not in (200, 201):
            assert time.monotonic() < deadline, "the chat app never accepted a message"
            time.sleep(0.1)
        yield client, token, dsn


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM messages").fetchone()
        return int(row[0]) if row else 0


_SEND = {"client_id": "c1", "body": "hello"}
_CHAT_BODIES = st.one_of(
    mutated(_SEND).map(lambda d: json.dumps(d, default=str).encode()),
    mutated({"user": "u1", "ttl_s": 60}).map(lambda d: json.dumps(d, default=str).encode()),
    junk.map(lambda d: json.dumps(d, default=str).encode()),
    st.binary(max_size=80),
    HOSTILE_JSON,
    st.integers(min_value=4000, max_value=6000).map(lambda n: json.dumps({"client_id": "b", "body": "x" * n}).encode()),
)
_ROOMS = st.one_of(st.sampled_from(["r1", "room.a:b-c_d", "x" * 65, "", "..", "%00"]), st.text(max_size=10))


@fast(2500)
@given(
    kind=st.sampled_from(["send", "send", "history", "token", "auth"]),
    room=_ROOMS,
    body=_CHAT_BODIES,
    query=st.text(max_size=12),
    header=st.text(max_size=20),
)
def test_chat_api_payloads(
    chat: tuple[Any, str, str], kind: str, room: str, body: bytes, *, query: str, header: str
) -> None:
    """Any payload, room, query or credential: a 2xx or a 4xx with a JSON error, never a 500; refusals store nothing."""
    client, token, dsn = chat
    CASES["chat API"] += 1
    path_room = quote(room, safe="") or "%20"
    bearer = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    before = _count(dsn) if kind == "send" else 0
    if kind == "send":
        r = client.post(f"/rooms/{path_room}/messages", content=body, headers=bearer)
    elif kind == "history":
        r = client.get(f"/rooms/{path_room}/messages?after={quote(query)}&limit={quote(header)}", headers=bearer)
    elif kind == "token":
        r = client.post("/auth/token", content=body, headers={"X-Issuer-Secret": ISSUER})
    else:
        raw = header.replace("\r", "").replace("\n", "").encode("latin-1", "replace")  # what HTTP can carry
        r = client.post(f"/rooms/{path_room}/messages", content=body, headers={"Authorization": raw})
    assert r.status_code < 500, (kind, room, body, r.status_code, r.text)
    if r.status_code >= 400:
        if r.status_code not in (404, 405):  # the router's own answers (a path like /rooms/../messages) are text
            assert "error" in r.json(), r.text
        if kind == "send":
            assert _count(dsn) == before


_AFTER = st.one_of(
    st.none(),
    st.sampled_from(["0", "1", "-1", "²", "٣", "9" * 19, "9" * 20, "9" * 5000, "1e3", " 1", "0x10", "²" * 40]),
    st.text(max_size=8),
)
_FRAMES = st.one_of(
    mutated({"type": "send", "client_id": "w1", "body": "hi"}).map(lambda d: json.dumps(d, default=str)),
    junk.map(lambda d: json.dumps(d, default=str)),
    st.text(max_size=40),
    HOSTILE_JSON.map(lambda b: b.decode("utf-8", "replace")),
    st.binary(max_size=40),
)


def _exchange(ws: Any, frame: str | bytes) -> None:
    """Send one frame; its answer is an ack or a JSON error (pushes of our own send may come first)."""
    if isinstance(frame, bytes):
        ws.send_bytes(frame)
    else:
        ws.send_text(frame)
    reply = json.loads(ws.receive()["text"])
    while reply.get("type") == "message":
        reply = json.loads(ws.receive()["text"])
    assert reply["type"] in ("ack", "error"), reply
    if reply["type"] == "error":
        assert reply["status"] in (413, 422, 429, 503), reply


@fast(300)
@given(
    room=_ROOMS,
    after=_AFTER,
    token_kind=st.sampled_from(["good", "good", "good", "junk", "none"]),
    frames=st.lists(_FRAMES, max_size=3),
    junk_token=st.text(max_size=30),
)
def test_chat_websocket_protocol(
    chat: tuple[Any, str, str],
    *,
    room: str,
    after: str | None,
    token_kind: str,
    frames: list[str | bytes],
    junk_token: str,
) -> None:
    """Any room, after=, token and frames (text or binary): the socket is refused with a close code (1008,
    4422, reason <= 123 bytes) or answers every text frame with an ack or a JSON error; never a server error."""
    from starlette.websockets import WebSocketDisconnect  # noqa: PLC0415 - starlette's test client import is local above

    client, token, _dsn = chat
    CASES["chat WebSocket"] += 1
    params = {"room": room}
    if after is not None:
        params["after"] = after
    if token_kind == "good":
        params["token"] = token
    elif token_kind == "junk":
        params["token"] = junk_token
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    try:
        with client.websocket_connect(f"/ws?{query}") as ws:
            first = ws.receive()
            if first["type"] == "websocket.close":
                assert first["code"] in (1008, 4422, 4429), first
                assert len((first.get("reason") or "").encode()) <= 123, first
                return
            assert json.loads(first["text"])["type"] in ("message", "ready"), first
            while json.loads(first["text"])["type"] != "ready":
                first = ws.receive()
            for frame in frames:
                _exchange(ws, frame)
    except WebSocketDisconnect as exc:
        assert exc.code in (1000, 1008, 4422, 4429, 1003), exc.code
    except concurrent.futures.CancelledError:
        pass  # Starlette's test client cancels the app's task when the block exits: not a server error


def test_zz_api_fuzz_case_count() -> None:
    """The API fuzzers above ran thousands of cases (printed for the safety note)."""
    print(f"\nfuzz cases: {dict(CASES)} total {sum(CASES.values())}")
    assert sum(CASES.values()) == 0 or sum(CASES.values()) >= 1000
