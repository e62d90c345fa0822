"""Fixtures for the chat service: real replicas (``python -m chat``) over real PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chat.launcher import ChatReplica, issue_test_token
from tests.support.servers import RedisServer, free_port

ISSUER_SECRET = "test-issuer-secret"
JWT_SECRET = "test-jwt-secret-of-at-least-32-bytes!"

StartReplicas = Callable[..., list[ChatReplica]]


def chat_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """CHAT_* variables for a replica; a channel of its own keeps tests apart on a shared Redis."""
    return {
        "CHAT_DATABASE_URL": database_url,
        "CHAT_REDIS_URL": redis_url,
        "CHAT_REDIS_CHANNEL": f"chat-test-{uuid.uuid4().hex[:8]}",
        "CHAT_JWT_SECRET": JWT_SECRET,
        "CHAT_ISSUER_SECRET": ISSUER_SECRET,
        "CHAT_LOG_LEVEL": "INFO",
        "CHAT_SHUTDOWN_DELAY_S": "0",  # stop at once in teardown; test_chat_shutdown.py sets its own
        **extra,
    }


@pytest.fixture
def start_replicas(tmp_path: Path) -> Iterator[StartReplicas]:
    """A factory ``start_replicas(n, env)`` -> running replicas; all are stopped by pid afterwards."""
    started: list[ChatReplica] = []

    def start(n: int, env: dict[str, str], *, wait_ready: bool = True) -> list[ChatReplica]:
        replicas = []
        for i in range(n):
            name = f"chat-{len(started) + 1}"
            replica = ChatReplica({**env, "CHAT_REPLICA": name}, free_port(), tmp_path / f"{name}-{i}.log")
            started.append(replica)
            replicas.append(replica.start(wait_ready=wait_ready))
        return replicas

    try:
        yield start
    finally:
        for replica in started:
            replica.stop()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of this test alone (it will be stopped and started again)."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def env(pg_dsn: str, redis_server: RedisServer) -> dict[str, str]:
    """Environment for replicas on a fresh database and the session's Redis."""
    return chat_env(pg_dsn, redis_server.url())


@pytest.fixture
def replica(start_replicas: StartReplicas, env: dict[str, str]) -> ChatReplica:
    """One running replica."""
    return start_replicas(1, env)[0]


def token(replica: ChatReplica, user: str = "u1", ttl_s: int = 3600) -> str:
    return issue_test_token(replica.url, ISSUER_SECRET, user, ttl_s)


def auth(replica: ChatReplica, user: str = "u1") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(replica, user)}"}
