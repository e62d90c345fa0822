"""The fault proxy's data plane with real TCP traffic: fast path, live switching, enable/disable."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

import pytest
import requests
import toxiproxy

from tests.integration.netfault.conftest import connect, echo_stream, round_trip, start_netfault, wait_for

pytestmark = pytest.mark.integration


def _proxy(txp: toxiproxy.Toxiproxy, upstream: str, name: str = "echo") -> toxiproxy.proxy.Proxy:
    return txp.create(upstream=upstream, name=name)


def test_fast_path_echoes_large_payload_intact(txp: toxiproxy.Toxiproxy, echo_server: str) -> None:
    """With no toxics, 8 MiB of random bytes go through the proxy and back unchanged."""
    proxy = _proxy(txp, echo_server)
    assert echo_stream(proxy.listen, os.urandom(8 << 20)) < 30


def test_toxic_added_and_removed_mid_stream_keeps_connection(
    api: str, txp: toxiproxy.Toxiproxy, echo_server: str
) -> None:
    """A latency toxic added on a live connection delays its next round trip; removing it restores the fast path."""
    proxy = _proxy(txp, echo_server)
    with connect(proxy.listen) as sock:
        fast = min(round_trip(sock) for _ in range(20))
        proxy.add_toxic(type="latency", attributes={"latency": 200})
        slow = round_trip(sock, b"after-add")
        proxy.destroy_toxic("latency_downstream")
        after = min(round_trip(sock, b"after-remove") for _ in range(20))
    assert fast < 0.1
    assert slow >= 0.19
    assert after < 0.1


def test_disable_closes_connections_and_listener(api: str, txp: toxiproxy.Toxiproxy, echo_server: str) -> None:
    """Disabling a proxy closes its open connections and refuses new ones; enabling listens again."""
    proxy = _proxy(txp, echo_server)
    host, port = proxy.listen.rsplit(":", 1)
    with connect(proxy.listen) as sock:
        round_trip(sock)
        proxy.disable()
        sock.settimeout(5)
        with contextlib.suppress(ConnectionResetError):
            assert sock.recv(10) == b""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5)
    proxy.enable()
    with connect(proxy.listen) as sock:
        round_trip(sock)
    assert requests.get(f"{api}/proxies/echo", timeout=5).json()["enabled"] is True


def test_latency_toxic_delays_each_round_trip(txp: toxiproxy.Toxiproxy, echo_server: str) -> None:
    """latency=100 on downstream makes every echo round trip take at least 100 ms."""
    proxy = _proxy(txp, echo_server)
    proxy.add_toxic(type="latency", attributes={"latency": 100})
    with connect(proxy.listen) as sock:
        times = [round_trip(sock) for _ in range(5)]
    assert min(times) >= 0.099
    assert sorted(times)[2] < 1.0


def test_timeout_toxic_swallows_data_then_closes(txp: toxiproxy.Toxiproxy, echo_server: str) -> None:
    """timeout=300 upstream: nothing reaches the echo and the proxy closes the connection after ~300 ms."""
    proxy = _proxy(txp, echo_server)
    proxy.add_toxic(type="timeout", stream="upstream", attributes={"timeout": 300})
    with connect(proxy.listen) as sock:
        start = time.monotonic()
        sock.sendall(b"hello")
        assert sock.recv(10) == b""
        elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 5


def test_reset_peer_sends_rst(txp: toxiproxy.Toxiproxy, echo_server: str) -> None:
    """reset_peer resets the client connection (ECONNRESET) after the first data."""
    proxy = _proxy(txp, echo_server)
    proxy.add_toxic(type="reset_peer", attributes={"timeout": 100})
    with connect(proxy.listen) as sock:
        sock.sendall(b"hello")
        with pytest.raises(ConnectionResetError):
            while sock.recv(10):
                pass


def test_bandwidth_toxic_caps_throughput(txp: toxiproxy.Toxiproxy, echo_server: str) -> None:
    """bandwidth rate=500 KB/s: 400 KB echoed back take at least ~0.7 s."""
    proxy = _proxy(txp, echo_server)
    proxy.add_toxic(type="bandwidth", attributes={"rate": 500})
    assert echo_stream(proxy.listen, os.urandom(400_000)) >= 0.7


def test_no_descriptor_leak_after_churn(echo_server: str) -> None:
    """After many connections (fast path, toxic chain, half-close, RST, disable) the server holds no more
    file descriptors than before."""
    server = start_netfault()
    try:
        fds = Path(f"/proc/{server.proc.pid}/fd")
        api = server.url
        listen = requests.post(
            f"{api}/proxies", json={"name": "p", "upstream": echo_server, "listen": "127.0.0.1:0"}, timeout=10
        ).json()["listen"]
        baseline = len(list(fds.iterdir()))

        def churn(n: int) -> None:
            for i in range(n):
                with connect(listen) as sock:
                    round_trip(sock)
                    if i % 2:
                        sock.shutdown(socket.SHUT_WR)
                        with contextlib.suppress(OSError):
                            sock.recv(10)

        churn(30)
        requests.post(f"{api}/proxies/p/toxics", json={"type": "latency", "attributes": {"latency": 1}}, timeout=10)
        churn(30)
        held = [connect(listen) for _ in range(10)]
        requests.post(f"{api}/proxies/p/toxics", json={"type": "reset_peer"}, timeout=10)
        requests.post(f"{api}/proxies/p", json={"enabled": False}, timeout=10)
        requests.post(f"{api}/reset", timeout=10)
        for sock in held:
            sock.close()
        churn(10)
        wait_for(lambda: len(list(fds.iterdir())) <= baseline, timeout=15, what="descriptors back to baseline")
    finally:
        server.stop()
        server.log.unlink(missing_ok=True)


def test_out_of_descriptors_backs_off_and_recovers(echo_server: str) -> None:
    """When the server runs out of file descriptors it neither crashes nor spins; once descriptors are
    free again, waiting and new clients are served."""
    server = start_netfault(max_fds=96)
    try:
        r = requests.post(
            f"{server.url}/proxies", json={"name": "p", "upstream": echo_server, "listen": "127.0.0.1:0"}, timeout=10
        )
        listen = r.json()["listen"]
        held = []
        for _ in range(40):  # 6 descriptors per proxied connection: far beyond 96
            sock = connect(listen, timeout=2)
            held.append(sock)
        cpu_before = _cpu_seconds(server.proc.pid)
        time.sleep(1.0)
        assert _cpu_seconds(server.proc.pid) - cpu_before < 0.5  # backing off, not spinning
        for sock in held:
            sock.close()
        with connect(listen) as sock:
            round_trip(sock)
        assert server.proc.poll() is None
    finally:
        server.stop()
        server.log.unlink(missing_ok=True)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
