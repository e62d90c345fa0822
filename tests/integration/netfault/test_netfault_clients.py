"""The fault proxy driven by the real clients (toxiproxy-python, chaostoolkit-toxiproxy) in front of real
PostgreSQL and Redis, measuring what the applications see: delays, cut connections, errors, recovery."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
import redis
import toxiproxy
from chaostoxi.proxy import actions as proxy_actions
from chaostoxi.proxy import probes as proxy_probes
from chaostoxi.toxic import actions as toxic_actions
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from tests.support.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.integration


def _timed_ping(client: redis.Redis) -> float:
    start = time.perf_counter()
    assert client.ping()
    return time.perf_counter() - start


@pytest.fixture
def chaos_config(api: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A Chaos Toolkit configuration pointing at the server (chaostoxi writes <proxy>_PORT to the env)."""
    for name in ("redis_PORT", "pg_PORT"):
        monkeypatch.delenv(name, raising=False)
    yield {"toxiproxy_url": api}


def test_chaostoolkit_toxiproxy_against_redis(chaos_config: dict[str, str], redis_server: RedisServer) -> None:
    """chaostoxi creates a proxy to Redis, adds latency/timeout toxics, disables, enables, resets and deletes it."""
    assert proxy_actions.create_proxy(
        "redis", "127.0.0.1", redis_server.port, listen_host="127.0.0.1", configuration=chaos_config
    )
    assert proxy_probes.proxy_exist("redis", configuration=chaos_config)
    assert proxy_probes.get_proxy_attribute("redis", "upstream", configuration=chaos_config) == (
        f"127.0.0.1:{redis_server.port}"
    )
    port = int(chaos_config["redis_PORT"])
    client = redis.Redis(port=port, socket_timeout=10, socket_connect_timeout=5)
    try:
        assert _timed_ping(client) < 1
        assert toxic_actions.create_latency_toxic("redis", "slow", latency=200, configuration=chaos_config)
        assert _timed_ping(client) >= 0.199
        assert toxic_actions.delete_toxic("redis", "slow", configuration=chaos_config)
        assert _timed_ping(client) < 1
        assert toxic_actions.create_toxic("redis", "plain", "noop", configuration=chaos_config)  # attributes null
        assert toxic_actions.create_timeout_toxic("redis", "hang", timeout=300, configuration=chaos_config)
        hung = redis.Redis(port=port, socket_timeout=5)
        with pytest.raises(redis.ConnectionError):
            hung.ping()
        hung.close()
        assert proxy_actions.reset(configuration=chaos_config)
        assert proxy_actions.disable_proxy("redis", configuration=chaos_config)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        assert proxy_actions.enable_proxy("redis", configuration=chaos_config)
        assert client.ping()
    finally:
        client.close()
        proxy_actions.delete_proxy("redis", configuration=chaos_config)
    assert not proxy_probes.proxy_exist("redis", configuration=chaos_config)


def test_chaostoolkit_toxiproxy_toxic_helpers(chaos_config: dict[str, str], redis_server: RedisServer) -> None:
    """chaostoxi's bandwidth, slow-close, slicer and limiter helpers create the toxics Toxiproxy would."""
    proxy_actions.create_proxy(
        "redis", "127.0.0.1", redis_server.port, listen_host="127.0.0.1", configuration=chaos_config
    )
    assert toxic_actions.create_bandwith_degradation_toxic("redis", "bw", rate=100, configuration=chaos_config)
    assert toxic_actions.create_slow_connection_close_toxic("redis", "sc", delay=10, configuration=chaos_config)
    assert toxic_actions.create_slicer_toxic("redis", "sl", 100, 10, 5, configuration=chaos_config)
    assert toxic_actions.create_limiter_toxic("redis", "lim", bytes_limit=10_000, configuration=chaos_config)
    client = redis.Redis(port=int(chaos_config["redis_PORT"]), socket_timeout=10)
    try:
        client.set("k", b"v" * 20_000)
        with pytest.raises(redis.ConnectionError):
            client.get("k")  # the reply is cut at 10,000 bytes
    finally:
        client.close()


def test_toxiproxy_python_client(txp: toxiproxy.Toxiproxy, redis_server: RedisServer) -> None:
    """toxiproxy-python: create, list, populate, toxics, down(), version, reset and its exceptions."""
    proxy = txp.create(upstream=f"127.0.0.1:{redis_server.port}", name="redis")
    assert txp.running()
    assert txp.version() == b'{"version": "2.12.0"}\n'
    assert set(txp.proxies()) == {"redis"}
    with pytest.raises(ProxyExists):
        txp.create(upstream="127.0.0.1:1", name="redis")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="nonsense")
    proxy.add_toxic(type="latency", attributes={"latency": 150})
    assert set(proxy.toxics()) == {"latency_downstream"}
    client = redis.Redis(port=int(proxy.listen.rsplit(":", 1)[1]), socket_timeout=10)
    try:
        assert _timed_ping(client) >= 0.149
        with proxy.down(), pytest.raises(redis.ConnectionError):
            client.ping()
        assert client.ping()
        assert txp.reset()
        assert proxy.toxics() == {}
        assert _timed_ping(client) < 1
    finally:
        client.close()
    made = txp.populate([{"name": "other", "upstream": f"127.0.0.1:{redis_server.port}", "listen": "127.0.0.1:0"}])
    assert [p.name for p in made] == ["other"]
    proxy.destroy()
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")
    assert txp.get_proxy("redis") is None


def test_redis_reset_peer_and_recovery(txp: toxiproxy.Toxiproxy, redis_server: RedisServer) -> None:
    """A reset_peer toxic makes Redis calls fail with a connection reset; removing it lets a new connection work."""
    proxy = txp.create(upstream=f"127.0.0.1:{redis_server.port}", name="redis")
    proxy.add_toxic(type="reset_peer", attributes={"timeout": 0})
    port = int(proxy.listen.rsplit(":", 1)[1])
    client = redis.Redis(port=port, socket_timeout=10, retry_on_timeout=False)
    try:
        with pytest.raises(redis.ConnectionError, match="reset"):
            client.ping()
        proxy.destroy_toxic("reset_peer_downstream")
        assert client.ping()
    finally:
        client.close()


def _pg_via(dsn: str, server: PostgresServer, listen: str) -> str:
    return dsn.replace(f"127.0.0.1:{server.port}", listen)


def test_postgres_latency_bandwidth_and_outage(
    txp: toxiproxy.Toxiproxy, pg_dsn: str, postgres_server: PostgresServer
) -> None:
    """psycopg through the proxy: queries slow down by the latency, big results by the bandwidth, and a
    disabled proxy breaks the session until it is enabled again."""
    proxy = txp.create(upstream=f"127.0.0.1:{postgres_server.port}", name="pg")
    dsn = _pg_via(pg_dsn, postgres_server, proxy.listen)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        proxy.add_toxic(type="latency", attributes={"latency": 200})
        start = time.perf_counter()
        conn.execute("SELECT 1").fetchone()
        assert time.perf_counter() - start >= 0.199
        proxy.destroy_toxic("latency_downstream")
        proxy.add_toxic(type="bandwidth", attributes={"rate": 500})
        start = time.perf_counter()
        (value,) = conn.execute("SELECT repeat('x', 1000000)").fetchone()  # type: ignore[misc]
        assert len(value) == 1_000_000
        assert time.perf_counter() - start >= 1.5
        proxy.destroy_toxic("bandwidth_downstream")
        proxy.disable()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    proxy.enable()
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_postgres_limit_data_and_timeout(
    txp: toxiproxy.Toxiproxy, pg_dsn: str, postgres_server: PostgresServer
) -> None:
    """limit_data cuts a PostgreSQL session mid-result; a timeout toxic makes new connections time out."""
    proxy = txp.create(upstream=f"127.0.0.1:{postgres_server.port}", name="pg")
    dsn = _pg_via(pg_dsn, postgres_server, proxy.listen)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        proxy.add_toxic(type="limit_data", attributes={"bytes": 50_000})
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT repeat('x', 100000)").fetchone()
    proxy.destroy_toxic("limit_data_downstream")
    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 0})
    start = time.perf_counter()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)
    assert time.perf_counter() - start >= 1.5
