"""The test fixtures start real servers and stop them by pid."""

from __future__ import annotations

import psutil
import psycopg
import pytest
import redis

from tests.support.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.integration


def test_postgres_fixture_gives_a_fresh_writable_database(pg_dsn: str) -> None:
    """Each test gets an empty database on a real PostgreSQL it can write to."""
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_redis_fixture_answers(redis_server: RedisServer) -> None:
    """The session's Redis answers commands."""
    client = redis.Redis.from_url(redis_server.url())
    assert client.ping() is True
    client.close()


def test_postgres_restart_keeps_data_and_stop_leaves_no_process() -> None:
    """A server restarted on the same port keeps its data; stop() reaps the postmaster by pid."""
    server = PostgresServer().start()
    try:
        dsn = server.create_database("keep")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
        pid = server.proc.pid if server.proc else None
        server.restart()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        server.cleanup()
    assert pid is not None

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
