"""chat_db_reachable: one answer whether the database link fails fast or hangs (the fault proxy in between).

replica ──► fault proxy (resilience.netfault) ──► PostgreSQL
             disabled: connections closed, new ones refused   (a partition: fails fast)
             timeout toxic, 0 ms: bytes swallowed, nothing closed (a black hole: hangs)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from chat.dbprobe import PROBE_INTERVAL_S, PROBE_TIMEOUT_S
from chat.launcher import ChatReplica
from tests.integration.chat.conftest import StartReplicas, chat_env
from tests.integration.netfault.conftest import NetfaultProcess, start_netfault
from tests.support.servers import RedisServer

pytestmark = pytest.mark.integration

TOLERANCE_S = 1.5
"""Scheduling slack on a shared 2-core box (a probe, a /metrics request, the poll's 0.05 s)."""


@pytest.fixture
def proxy_api() -> Iterator[str]:
    """A fault proxy server of this test alone; its API URL."""
    server: NetfaultProcess = start_netfault()
    try:
        yield server.url
    finally:
        server.stop()
        server.log.unlink(missing_ok=True)


def _through_proxy(api: str, dsn: str) -> str:
    """``dsn`` rewritten to a new proxy ``pg`` in front of its server."""
    url = urlsplit(dsn)
    created = httpx.post(
        f"{api}/proxies", json={"name": "pg", "listen": "127.0.0.1:0", "upstream": f"{url.hostname}:{url.port}"}
    )
    created.raise_for_status()
    userinfo = url.netloc.rpartition("@")[0]
    return urlunsplit(
        url._replace(netloc=f"{userinfo}@{created.json()['listen']}" if userinfo else created.json()["listen"])
    )


def _reachable(replica: ChatReplica) -> float | None:
    for line in httpx.get(f"{replica.url}/metrics", timeout=10).text.splitlines():
        if line.startswith("chat_db_reachable "):
            return float(line.split()[1])
    return None


def _seconds_until(condition: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not reached after {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_refused_and_a_hanging_database_both_set_chat_db_reachable_to_0(
    pg_dsn: str, redis_server: RedisServer, proxy_api: str, start_replicas: StartReplicas
) -> None:
    """The background probe, with nobody calling /readyz, turns chat_db_reachable to 0 within its interval
    when the link is cut (refused at once) and within interval + timeout when the database stops answering
    (nothing fails, nothing closes); back to 1 within its interval once the link is whole again."""
    (replica,) = start_replicas(1, chat_env(_through_proxy(proxy_api, pg_dsn), redis_server.url()))
    _seconds_until(lambda: _reachable(replica) == 1.0, 10)

    httpx.post(f"{proxy_api}/proxies/pg", json={"enabled": False}).raise_for_status()
    cut = _seconds_until(lambda: _reachable(replica) == 0.0, PROBE_INTERVAL_S + TOLERANCE_S)
    httpx.post(f"{proxy_api}/proxies/pg", json={"enabled": True}).raise_for_status()
    _seconds_until(lambda: _reachable(replica) == 1.0, PROBE_INTERVAL_S + TOLERANCE_S)

    toxic = {"name": "black-hole", "type": "timeout", "stream": "downstream", "attributes": {"timeout": 0}}
    httpx.post(f"{proxy_api}/proxies/pg/toxics", json=toxic).raise_for_status()
    hang = _seconds_until(lambda: _reachable(replica) == 0.0, PROBE_INTERVAL_S + PROBE_TIMEOUT_S + TOLERANCE_S)
    ready = httpx.get(f"{replica.url}/readyz", timeout=10)
    assert (ready.status_code, ready.json()["unreachable"]) == (503, ["database"])
    httpx.delete(f"{proxy_api}/proxies/pg/toxics/black-hole").raise_for_status()
    # a probe stuck in the black hole runs to its timeout first
    _seconds_until(lambda: _reachable(replica) == 1.0, PROBE_INTERVAL_S + PROBE_TIMEOUT_S + TOLERANCE_S)
    assert httpx.get(f"{replica.url}/readyz", timeout=10).status_code == 200
    # the hang is noticed by the probe's timeout, not by an error: it cannot be quicker than a probe can wait
    assert hang >= PROBE_TIMEOUT_S - PROBE_INTERVAL_S - 0.1, (cut, hang)
