"""Deliberately bad releases (CHAT_RELEASE) for rollback experiments, and the release in health/metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import psycopg
import pytest

from tests.integration.chat.conftest import StartReplicas, auth

pytestmark = pytest.mark.integration


def test_bad_errors_fails_a_share_of_sends_with_500_and_stores_none_of_them(
    start_replicas: StartReplicas, env: dict[str, str], pg_dsn: str
) -> None:
    """bad-errors answers 500 to about CHAT_BAD_ERROR_SHARE of sends and stores only the others."""
    (r,) = start_replicas(1, {**env, "CHAT_RELEASE": "bad-errors", "CHAT_BAD_ERROR_SHARE": "0.5"})
    h = auth(r)
    codes = [
        httpx.post(
            f"{r.url}/rooms/r1/messages", json={"client_id": f"c{i}", "body": "x"}, headers=h, timeout=15
        ).status_code
        for i in range(40)
    ]
    assert set(codes) == {201, 500}
    assert 5 <= codes.count(500) <= 35  # 0.5 of 40: bounds 4.7 standard deviations out
    with psycopg.connect(pg_dsn) as conn:
        stored = conn.execute("SELECT count(*) FROM messages").fetchone()
    assert stored == (codes.count(201),)
    assert httpx.get(f"{r.url}/healthz").json()["release"] == "bad-errors"
    assert 'chat_release_info{release="bad-errors",replica="chat-1"} 1.0' in httpx.get(f"{r.url}/metrics").text


def test_bad_latency_adds_latency_to_sends(start_replicas: StartReplicas, env: dict[str, str]) -> None:
    """bad-latency makes every send take at least CHAT_BAD_LATENCY_MS; reads and health are unaffected."""
    (r,) = start_replicas(1, {**env, "CHAT_RELEASE": "bad-latency", "CHAT_BAD_LATENCY_MS": "400"})
    h = auth(r)
    for i in range(3):
        started = time.monotonic()
        resp = httpx.post(f"{r.url}/rooms/r1/messages", json={"client_id": f"c{i}", "body": "x"}, headers=h, timeout=15)
        assert resp.status_code == 201
        assert time.monotonic() - started >= 0.4
    assert httpx.get(f"{r.url}/readyz").status_code == 200


def test_bad_readiness_fails_readyz_but_serves(start_replicas: StartReplicas, env: dict[str, str]) -> None:
    """bad-readiness keeps /readyz at 503 (with a reason) while healthz and sends still work."""
    (r,) = start_replicas(1, {**env, "CHAT_RELEASE": "bad-readiness"}, wait_ready=False)
    ready = httpx.get(f"{r.url}/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unready"
    assert "bad-readiness" in ready.json()["reason"]
    assert httpx.get(f"{r.url}/healthz").json()["release"] == "bad-readiness"
    sent = httpx.post(f"{r.url}/rooms/r1/messages", json={"client_id": "c", "body": "x"}, headers=auth(r), timeout=15)
    assert sent.status_code == 201


def test_invalid_settings_exit_3_with_one_line() -> None:
    """python -m chat with a bad CHAT_RELEASE exits 3 printing one line that names the variable."""
    env = {
        **os.environ,
        "CHAT_DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
        "CHAT_JWT_SECRET": "j" * 32,
        "CHAT_ISSUER_SECRET": "i",
        "CHAT_RELEASE": "worse",
    }
    done = subprocess.run(
        [sys.executable, "-m", "chat", "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3
    assert done.stderr.strip().splitlines() == [
        "chat: CHAT_RELEASE='worse': expected one of good, bad-errors, bad-latency, bad-readiness"
    ]
