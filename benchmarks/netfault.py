"""Benchmark the fault proxy against direct TCP in the same run, and its toxics against their settings.

    .venv/bin/python benchmarks/netfault.py [--quick]

Prints, side by side: round-trip p50/p99 direct vs through a proxy with no toxics (goal: < 100 us
added at p50); single-stream throughput direct vs proxied (goal: >= 1,000 MB/s, 2,000 MB/s beats the Go
Toxiproxy); the latency toxic's p50 over 1,000 round trips (goal 100 ms +- 2 ms); the bandwidth toxic's
measured rate against its setting (goal within 5%). The server runs as its own process, as deployed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def start_server() -> tuple[subprocess.Popen[str], str]:
    """The server as its own process in this session: with autogroup scheduling (Debian's default) a
    separate session would get its own CPU share and skew the side-by-side comparison."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "resilience.netfault", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    return proc, line.strip().rsplit(" ", 1)[1]


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


_SINK = """
import socket
lsock = socket.create_server(("127.0.0.1", 0))
print(lsock.getsockname()[1], flush=True)
buf = bytearray(1 << 20)
while True:
    conn, _ = lsock.accept()
    while conn.recv_into(buf):
        pass
    conn.close()
"""

_SEND = """
import os, socket, sys, time
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
block, sent, start = memoryview(os.urandom(1 << 20)), 0, time.perf_counter()
while time.perf_counter() - start < float(sys.argv[2]):
    sock.sendall(block)
    sent += len(block)
sock.shutdown(socket.SHUT_WR)
sock.recv(1)
print(sent / (time.perf_counter() - start) / 1e6)
"""


_ECHO = """
import asyncio, socket, uvloop

async def echo(reader, writer):
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    writer.close()

async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

uvloop.run(main())
"""


def start_helper(code: str) -> tuple[subprocess.Popen[str], int]:
    """A sink or echo server in its own process (no GIL shared with the client); returns it and its port."""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def throughput(port: int, seconds: float) -> float:
    """MB/s (10^6) one sender process pushes through one connection to ``port`` in ``seconds``."""
    out = subprocess.run(
        [sys.executable, "-c", _SEND, str(port), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    return float(out.stdout)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def proxy(api: str, name: str, upstream_port: int) -> int:
    r = requests.post(
        f"{api}/proxies",
        json={"name": name, "upstream": f"127.0.0.1:{upstream_port}", "listen": "127.0.0.1:0"},
        timeout=10,
    )
    r.raise_for_status()
    return int(r.json()["listen"].rsplit(":", 1)[1])


def bench_round_trip(echo_port: int, p_echo: int, n: int) -> bool:
    round_trips(echo_port, 200)
    round_trips(p_echo, 200)
    direct = round_trips(echo_port, n)
    proxied = round_trips(p_echo, n)
    d50, p50 = statistics.median(direct) * 1e6, statistics.median(proxied) * 1e6
    added = p50 - d50
    print(
        f"round trip (64 B, {n}x)   direct p50 {d50:7.1f} us p99 {pct(direct, 0.99) * 1e6:7.1f} us | "
        f"proxy p50 {p50:7.1f} us p99 {pct(proxied, 0.99) * 1e6:7.1f} us | added p50 {added:6.1f} us "
        f"(goal < 100 us)"
    )
    return added < 100


def bench_throughput(sink_port: int, p_sink: int, secs: float, rounds: int) -> bool:
    tput_direct, tput_proxy = [], []
    for _ in range(rounds):  # alternate, so both see the same machine load
        tput_direct.append(throughput(sink_port, secs))
        tput_proxy.append(throughput(p_sink, secs))
    td, tp = statistics.median(tput_direct), statistics.median(tput_proxy)
    print(
        f"throughput (1 stream, {secs:.0f} s, median of {rounds})  direct {td:6.0f} MB/s "
        f"(best {max(tput_direct):.0f}) | proxy {tp:6.0f} MB/s (best {max(tput_proxy):.0f}); "
        f"{tp / td:.0%} of direct (goal >= 1000 MB/s; 2000 beats Go Toxiproxy)"
    )
    return tp >= 1000


async def _async_round_trips(port: int, n: int, offset: float = 0.0) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await asyncio.sleep(offset)
    out = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            writer.write(b"x" * 64)
            await reader.readexactly(64)
            out.append(time.perf_counter() - start)
    finally:
        writer.close()
    return out


async def _concurrent_round_trips(port: int, n_conn: int, per_conn: int) -> list[float]:
    # staggered starts: independent clients, not one burst of n_conn round trips every 100 ms
    runs = await asyncio.gather(*(_async_round_trips(port, per_conn, 0.1 * i / n_conn) for i in range(n_conn)))
    return [t for run in runs for t in run]


def bench_latency_toxic(api: str, echo_port: int, p_echo: int, n_conn: int, per_conn: int) -> bool:
    """Round trips through a 100 ms latency toxic, side by side with direct ones at the same concurrency
    (one asyncio client, staggered connections); the goal is on the delay the toxic adds."""
    direct = asyncio.run(_concurrent_round_trips(echo_port, n_conn, per_conn))
    requests.post(
        f"{api}/proxies/echo/toxics", json={"type": "latency", "attributes": {"latency": 100}}, timeout=10
    ).raise_for_status()
    try:
        lat = asyncio.run(_concurrent_round_trips(p_echo, n_conn, per_conn))
    finally:
        requests.delete(f"{api}/proxies/echo/toxics/latency_downstream", timeout=10)
    l50, d50 = statistics.median(lat) * 1000, statistics.median(direct) * 1000
    print(
        f"latency toxic 100 ms ({len(lat)} round trips over {n_conn} conns)  p50 {l50:7.2f} ms "
        f"p99 {pct(lat, 0.99) * 1000:7.2f} ms | direct p50 {d50:.2f} ms | added p50 {l50 - d50:7.2f} ms "
        f"(goal 100 +- 2 ms)"
    )
    return abs(l50 - d50 - 100) <= 2


def bench_bandwidth(api: str, p_sink: int, rate: int, secs: float) -> bool:
    toxic = {"name": "bw", "type": "bandwidth", "stream": "upstream", "attributes": {"rate": rate}}
    requests.post(f"{api}/proxies/sink/toxics", json=toxic, timeout=10).raise_for_status()
    try:
        got = throughput(p_sink, secs) * 1000
    finally:
        requests.delete(f"{api}/proxies/sink/toxics/bw", timeout=10)
    err = got / rate - 1
    print(f"bandwidth toxic {rate:6d} KB/s  measured {got:9.1f} KB/s ({err:+.1%}; goal within 5%)")
    return abs(err) <= 0.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (CI smoke)")
    args = parser.parse_args()
    quick = args.quick
    secs = 1.0 if quick else 3.0
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    children: list[subprocess.Popen[str]] = []
    try:
        proc, api = start_server()
        children.append(proc)
        echo, echo_port = start_helper(_ECHO)
        children.append(echo)
        sink, sink_port = start_helper(_SINK)
        children.append(sink)
        p_echo = proxy(api, "echo", echo_port)
        p_sink = proxy(api, "sink", sink_port)
        results = {
            "added latency": bench_round_trip(echo_port, p_echo, 500 if quick else 5000),
            "throughput": bench_throughput(sink_port, p_sink, secs, 1 if quick else 3),
            "latency toxic": bench_latency_toxic(api, echo_port, p_echo, *((10, 20) if quick else (20, 50))),
            "bandwidth 1000": bench_bandwidth(api, p_sink, 1000, secs + 1),
            "bandwidth 10000": bench_bandwidth(api, p_sink, 10000, secs + 1),
        }
    finally:
        for child in children:  # every process this script started, by pid
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
    print(f"load average {os.getloadavg()[0]:.1f} at end (figures are noisy when it exceeds the CPU count)")
    missed = [name for name, ok in results.items() if not ok]
    print("goals met" if not missed else f"goals missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
