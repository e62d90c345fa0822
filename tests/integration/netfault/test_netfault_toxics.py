"""Every toxic, created with toxiproxy-python, with real TCP traffic through the fault proxy (the scenarios
of Toxiproxy's toxics tests).

Timing checks are lower bounds set by the toxic (or generous upper bounds) so they hold on a loaded machine.
"""

from __future__ import annotations

import os
import socket
import statistics
import struct
import threading
import time
from typing import Any

import pytest
import requests
import toxiproxy
import toxiproxy.proxy

from tests.integration.netfault.conftest import (
    GREETING,
    connect,
    echo_stream,
    recv_exactly,
    recv_until_eof,
    round_trip,
    wait_for,
)

pytestmark = pytest.mark.integration


def _proxy(api: str, upstream: str, name: str = "p") -> str:
    r = requests.post(f"{api}/proxies", json={"name": name, "upstream": upstream, "listen": "127.0.0.1:0"}, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["listen"])


@pytest.fixture(autouse=True)
def _client(txp: toxiproxy.Toxiproxy) -> toxiproxy.Toxiproxy:
    """Toxics are created and deleted through toxiproxy-python (its API host is class-level state)."""
    return txp


def _toxic(api: str, toxic_type: str, proxy: str = "p", **fields: Any) -> None:
    """Add a toxic with toxiproxy-python's ``Proxy.add_toxic`` (updates go through plain PATCH/POST)."""
    toxiproxy.proxy.Proxy(name=proxy, upstream="", enabled=True, listen="").add_toxic(type=toxic_type, **fields)


def _delete(api: str, name: str, proxy: str = "p") -> None:
    assert toxiproxy.proxy.Proxy(name=proxy, upstream="", enabled=True, listen="").destroy_toxic(name)


def test_latency_upstream_and_downstream_add_up(api: str, echo_server: str) -> None:
    """100 ms upstream plus 100 ms downstream make a round trip take at least 200 ms."""
    listen = _proxy(api, echo_server)
    _toxic(api, "latency", stream="upstream", attributes={"latency": 100})
    _toxic(api, "latency", stream="downstream", attributes={"latency": 100})
    with connect(listen) as sock:
        assert min(round_trip(sock) for _ in range(3)) >= 0.199


def test_two_latency_toxics_on_one_stream(api: str, echo_server: str) -> None:
    """Two latency toxics on the same stream delay in series."""
    listen = _proxy(api, echo_server)
    _toxic(api, "latency", name="a", attributes={"latency": 80})
    _toxic(api, "latency", name="b", attributes={"latency": 80})
    with connect(listen) as sock:
        assert round_trip(sock) >= 0.159


def test_jitter_spreads_the_delay(api: str, echo_server: str) -> None:
    """latency 60 +- 50 ms: every round trip is at least 10 ms and they are not all alike."""
    listen = _proxy(api, echo_server)
    _toxic(api, "latency", attributes={"latency": 60, "jitter": 50})
    with connect(listen) as sock:
        times = [round_trip(sock) for _ in range(12)]
    assert min(times) >= 0.0095
    assert statistics.pstdev(times) > 0.005


def test_latency_keeps_throughput(api: str, echo_server: str) -> None:
    """Delays of successive chunks overlap: 4 MiB echo with 100 ms latency finishes far below chunks x 100 ms."""
    listen = _proxy(api, echo_server)
    _toxic(api, "latency", attributes={"latency": 100})
    elapsed = echo_stream(listen, os.urandom(4 << 20))
    assert 0.1 <= elapsed < 10  # 128 chunks of 32 KiB serialised would take 12.8 s


def test_zero_latency_and_noop_pass_through(api: str, echo_server: str) -> None:
    """latency 0 and noop leave the stream intact and fast."""
    listen = _proxy(api, echo_server)
    _toxic(api, "latency")
    _toxic(api, "noop", stream="upstream")
    with connect(listen) as sock:
        assert statistics.median(round_trip(sock, os.urandom(1000)) for _ in range(10)) < 0.5


def test_bandwidth_upstream_caps_rate(api: str, echo_server: str) -> None:
    """bandwidth 200 KB/s on upstream: 200 KB take about a second (at least 0.8 s)."""
    listen = _proxy(api, echo_server)
    _toxic(api, "bandwidth", stream="upstream", attributes={"rate": 200})
    assert echo_stream(listen, os.urandom(200_000)) >= 0.8


def test_slow_close_delays_the_close(api: str, greeter_server: str) -> None:
    """slow_close 500 ms: the greeting arrives, the close only after at least half a second."""
    listen = _proxy(api, greeter_server)
    _toxic(api, "slow_close", attributes={"delay": 500})
    with connect(listen) as sock:
        start = time.monotonic()
        assert recv_until_eof(sock) == GREETING
        assert time.monotonic() - start >= 0.45


def test_timeout_zero_holds_data_until_removed_then_closes(api: str, echo_server: str) -> None:
    """timeout 0 swallows data forever; removing the toxic closes the affected connection."""
    listen = _proxy(api, echo_server)
    _toxic(api, "timeout", name="to_delete", stream="upstream", attributes={"timeout": 0})
    with connect(listen) as sock:
        sock.sendall(b"lost")
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(10)
        _delete(api, "to_delete")
        sock.settimeout(5)
        assert sock.recv(10) == b""


def test_timeout_downstream_closes_after_timeout(api: str, echo_server: str) -> None:
    """timeout 300 downstream: the echo never arrives and the connection closes after >= 0.3 s."""
    listen = _proxy(api, echo_server)
    _toxic(api, "timeout", attributes={"timeout": 300})
    with connect(listen) as sock:
        start = time.monotonic()
        sock.sendall(b"hello")
        assert recv_until_eof(sock) == b""
        assert time.monotonic() - start >= 0.25


@pytest.mark.parametrize(("stream", "timeout_ms"), [("upstream", 0), ("upstream", 200), ("downstream", 200)])
def test_reset_peer_sends_rst(api: str, echo_server: str, stream: str, timeout_ms: int) -> None:
    """reset_peer resets the client connection (ECONNRESET) after its first data and the timeout."""
    listen = _proxy(api, echo_server)
    _toxic(api, "reset_peer", stream=stream, attributes={"timeout": timeout_ms})
    with connect(listen) as sock:
        start = time.monotonic()
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            while sock.recv(10):
                pass
        assert time.monotonic() - start >= timeout_ms / 1000 * 0.9


def test_slicer_splits_and_delays(api: str, echo_server: str) -> None:
    """slicer 10 B every 2 ms: 400 echoed bytes arrive intact in many pieces over >= 60 ms."""
    listen = _proxy(api, echo_server)
    _toxic(api, "slicer", attributes={"average_size": 10, "size_variation": 0, "delay": 2000})
    payload = os.urandom(400)
    with connect(listen) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        pieces = []
        while sum(map(len, pieces)) < len(payload):
            pieces.append(sock.recv(4096))
        elapsed = time.monotonic() - start
    assert b"".join(pieces) == payload
    assert len(pieces) >= 3 and elapsed >= 0.06


@pytest.mark.parametrize("limit", [0, 100, 1000])
def test_limit_data_cuts_the_stream(api: str, echo_server: str, limit: int) -> None:
    """limit_data N downstream: exactly the first N bytes arrive, then the connection closes."""
    listen = _proxy(api, echo_server)
    _toxic(api, "limit_data", attributes={"bytes": limit})
    payload = os.urandom(3000)
    with connect(listen) as sock:
        sock.sendall(payload)
        got = recv_until_eof(sock) if limit else b""
        if not limit:
            sock.sendall(b"x")
            assert recv_until_eof(sock) == b""
    assert got == payload[:limit]


def test_limit_data_counts_across_updates(api: str, echo_server: str) -> None:
    """limit_data keeps its per-connection count when updated mid-stream (Toxiproxy's stateful toxic)."""
    listen = _proxy(api, echo_server)
    _toxic(api, "limit_data", attributes={"bytes": 100})
    with connect(listen) as sock:
        sock.sendall(b"a" * 60)
        assert recv_exactly(sock, 60) == b"a" * 60
        requests.post(f"{api}/proxies/p/toxics/limit_data_downstream", json={"attributes": {"bytes": 80}}, timeout=10)
        sock.sendall(b"b" * 60)
        assert recv_until_eof(sock) == b"b" * 20


def test_toxicity_zero_then_one_on_a_live_connection(api: str, echo_server: str) -> None:
    """A toxic with toxicity 0 has no effect; updated to 1 it applies to the open connection (re-rolled)."""
    listen = _proxy(api, echo_server)
    _toxic(api, "timeout", name="t", toxicity=0, attributes={"timeout": 100})
    with connect(listen) as sock:
        round_trip(sock)
        r = requests.post(f"{api}/proxies/p/toxics/t", json={"toxicity": 1}, timeout=10)
        assert r.json()["toxicity"] == 1
        sock.sendall(b"swallowed")
        assert recv_until_eof(sock) == b""


def test_live_update_changes_latency(api: str, echo_server: str) -> None:
    """Updating a latency toxic on a live connection changes the delay of the next round trip."""
    listen = _proxy(api, echo_server)
    _toxic(api, "latency", attributes={"latency": 50})
    with connect(listen) as sock:
        assert round_trip(sock) >= 0.049
        requests.patch(f"{api}/proxies/p/toxics/latency_downstream", json={"attributes": {"latency": 300}}, timeout=10)
        assert round_trip(sock) >= 0.299


def _send_paced(sock: socket.socket, payload: bytes, churned: list[str]) -> None:
    """Send in 2 KiB pieces; half-way, wait until the churner has switched toxics a few times."""
    for i in range(0, len(payload), 2048):
        sock.sendall(payload[i : i + 2048])
        time.sleep(0.005)
        if i == len(payload) // 2 // 2048 * 2048:
            wait_for(lambda: len(churned) >= 8, timeout=60, what="toxic churn")


def test_no_data_dropped_while_toxics_churn(api: str, echo_server: str) -> None:
    """65,535 counters stream through intact and in order while toxics are added and removed non-stop."""
    listen = _proxy(api, echo_server)
    payload = b"".join(struct.pack(">H", i) for i in range(65535))
    stop = threading.Event()
    churned = []

    def churn() -> None:
        kinds = [
            ("latency", {"latency": 5}),
            ("slicer", {"average_size": 512, "delay": 10}),
            ("bandwidth", {"rate": 100_000}),
            ("noop", {}),
        ]
        while not stop.is_set():
            for kind, attrs in kinds:
                for stream in ("upstream", "downstream"):
                    _toxic(api, kind, name="churn", stream=stream, attributes=attrs)
                    _delete(api, "churn")
                    churned.append(kind)

    with connect(listen, timeout=60) as sock:
        churner = threading.Thread(target=churn)
        churner.start()
        try:
            sender = threading.Thread(target=_send_paced, args=(sock, payload, churned))
            sender.start()
            got = recv_exactly(sock, len(payload))
            sender.join(30)
        finally:
            stop.set()
            churner.join(30)
    assert got == payload
    assert len(churned) >= 8  # the stream crossed at least 8 add/remove switches


def test_upstream_down_closes_client_and_others_keep_serving(api: str, echo_server: str) -> None:
    """A proxy whose upstream refuses closes each client at once; another proxy keeps serving."""
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_addr = f"127.0.0.1:{dead.getsockname()[1]}"
    dead.close()
    down = _proxy(api, dead_addr, name="down")
    up = _proxy(api, echo_server, name="up")
    with connect(down) as sock:
        assert recv_until_eof(sock) == b""
    with connect(up) as sock:
        round_trip(sock)


def test_remove_toxic_after_client_left(api: str, echo_server: str) -> None:
    """Removing a toxic after its connection broke answers 204 promptly and the proxy keeps working."""
    listen = _proxy(api, echo_server)
    _toxic(api, "latency", attributes={"latency": 1000})
    sock = connect(listen)
    sock.sendall(b"in flight")
    sock.close()
    start = time.monotonic()
    _delete(api, "latency_downstream")
    assert time.monotonic() - start < 5
    with connect(listen) as sock2:
        round_trip(sock2)
    wait_for(lambda: not requests.get(f"{api}/proxies/p/toxics", timeout=10).json(), what="no toxics")
