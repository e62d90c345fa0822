"""Benchmark the fault proxy against direct TCP in the same run, and its toxics against their settings.

    .venv/bin/python benchmarks/netfault.py [--quick]

Prints, side by side: round-trip p50/p99 direct vs through a proxy with no toxics (goal: < 100 us
added at p50); single-stream throughput direct vs proxied (goal: >= 1,000 MB/s, 2,000 MB/s beats the Go
Toxiproxy); the latency toxic's p50 over 1,000 round trips (goal 100 ms +- 2 ms); the bandwidth toxic's
measured rate against its setting (goal within 5%). The server runs as its own process, as deployed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "resilience.netfault", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.strip().rsplit(" ", 1)[1]


def _server(handle: Callable[[socket.socket], None]) -> tuple[socket.socket, int]:
    """A loopback listener that runs ``handle`` on each connection in its own thread."""
    lsock = socket.create_server(("127.0.0.1", 0), backlog=256)

    def accept() -> None:
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return lsock, lsock.getsockname()[1]


def _echo(conn: socket.socket) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn, contextlib.suppress(OSError):
        while data := conn.recv(65536):
            conn.sendall(data)


def _sink(conn: socket.socket) -> None:
    buf = bytearray(1 << 20)
    with conn, contextlib.suppress(OSError):
        while conn.recv_into(buf):
            pass


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trips(port: int, n: int, size: int = 64) -> list[float]:
    payload = b"x" * size
    out = []
    with connect(port) as sock:
        for _ in range(n):
            start = time.perf_counter()
            sock.sendall(payload)
            got = 0
            while got < size:
                got += len(sock.recv(size - got))
            out.append(time.perf_counter() - start)
    return out


def throughput(port: int, seconds: float) -> float:
    """MB/s (10^6) sent to a sink in ``seconds`` through one connection."""
    block = memoryview(os.urandom(1 << 20))
    sent = 0
    with connect(port) as sock:
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            sock.sendall(block)
            sent += len(block)
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)
        elapsed = time.perf_counter() - start
    return sent / elapsed / 1e6


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def proxy(api: str, name: str, upstream_port: int) -> int:
    r = requests.post(f"{api}/proxies", json={"name": name, "upstream": f"127.0.0.1:{upstream_port}",
                                               "listen": "127.0.0.1:0"}, timeout=10)
    r.raise_for_status()
    return int(r.json()["listen"].rsplit(":", 1)[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (CI smoke)")
    args = parser.parse_args()
    n_rtt, secs = (500, 1.0) if args.quick else (5000, 3.0)
    proc, api = start_server()
    echo, echo_port = _server(_echo)
    sink, sink_port = _server(_sink)
    failures = []
    try:
        p_echo = proxy(api, "echo", echo_port)
        p_sink = proxy(api, "sink", sink_port)
        round_trips(echo_port, 200)
        round_trips(p_echo, 200)
        direct = round_trips(echo_port, n_rtt)
        proxied = round_trips(p_echo, n_rtt)
        d50, p50 = statistics.median(direct) * 1e6, statistics.median(proxied) * 1e6
        added = p50 - d50
        print(f"round trip (64 B, {n_rtt}x)   direct p50 {d50:7.1f} us p99 {pct(direct, .99) * 1e6:7.1f} us | "
              f"proxy p50 {p50:7.1f} us p99 {pct(proxied, .99) * 1e6:7.1f} us | added p50 {added:6.1f} us "
              f"(goal < 100 us)")
        if added >= 100:
            failures.append("added latency")
        tput_direct = throughput(sink_port, secs)
        tput_proxy = throughput(p_sink, secs)
        print(f"throughput (1 stream, {secs:.0f} s)  direct {tput_direct:8.0f} MB/s | proxy {tput_proxy:8.0f} MB/s "
              f"({tput_proxy / tput_direct:.0%} of direct; goal >= 1000, 2000 beats Go Toxiproxy)")
        if tput_proxy < 1000:
            failures.append("throughput")
        requests.post(f"{api}/proxies/echo/toxics", json={"type": "latency", "attributes": {"latency": 100}},
                      timeout=10).raise_for_status()
        n_conn, per_conn = (20, 10) if args.quick else (50, 20)
        with concurrent.futures.ThreadPoolExecutor(n_conn) as pool:
            lat = [t for ts in pool.map(lambda _: round_trips(p_echo, per_conn), range(n_conn)) for t in ts]
        l50 = statistics.median(lat) * 1000
        print(f"latency toxic 100 ms ({len(lat)} round trips over {n_conn} conns)  p50 {l50:7.2f} ms "
              f"p99 {pct(lat, .99) * 1000:7.2f} ms (goal 100 +- 2 ms)")
        if abs(l50 - 100) > 2:
            failures.append("latency toxic")
        for rate in (1000, 10000):
            toxic = {"name": "bw", "type": "bandwidth", "stream": "upstream", "attributes": {"rate": rate}}
            requests.post(f"{api}/proxies/sink/toxics", json=toxic, timeout=10).raise_for_status()
            got = throughput(p_sink, secs + 1) * 1000
            err = got / rate - 1
            print(f"bandwidth toxic {rate:6d} KB/s  measured {got:9.1f} KB/s ({err:+.1%}; goal within 5%)")
            if abs(err) > 0.05:
                failures.append(f"bandwidth {rate}")
            requests.delete(f"{api}/proxies/sink/toxics/bw", timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        echo.close()
        sink.close()
    print("goals met" if not failures else f"goals missed: {', '.join(failures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
