"""Shared fixtures: real PostgreSQL and Redis on loopback, started once per session, stopped by pid."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.servers import PostgresServer, RedisServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL cluster for the session (initdb as ``postgres`` into a temp dir)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL; its libpq URL."""
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real Redis for the session."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()
