"""WebSocket load on the chat service: N concurrent clients against 1 and 3 replicas.

Starts its own PostgreSQL and Redis (throw-away, free ports) and ``python -m chat`` replicas, connects N
asyncio WebSocket clients (spread round-robin over the replicas, ``--room-size`` clients per room), lets
each send at ``--rate`` messages/s (0 = closed loop: the next send right after the ack) for ``--duration``
seconds, and prints per configuration: connections held, messages/s acked, deliveries/s, p50/p95
send->ack and send->delivery (delivery = the push to every *other* member of the room, which for members
on another replica goes through Redis).

    .venv/bin/python benchmarks/chat_ws.py --clients 200 1000 --replicas 1 3 --duration 20 --rate 1

Every process it starts is stopped by pid at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvloop

from chat.launcher import ChatReplica
from tests.support.servers import PostgresServer, RedisServer, free_port

ISSUER = "bench-issuer-secret"


@dataclass
class Phase:
    """Sends start when every client has connected (or given up); ``stop`` is set then."""

    go: asyncio.Event = field(default_factory=asyncio.Event)
    stop: float = 0.0


@dataclass
class Stats:
    """Latencies (seconds) and counters of one configuration."""

    ack: list[float] = field(default_factory=list)
    delivery: list[float] = field(default_factory=list)
    sent: int = 0
    errors: int = 0
    connected: int = 0
    connect_failed: int = 0
    closed_early: int = 0
    connect_all_s: float = 0.0
    sent_at: dict[str, float] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    store_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def held(self) -> int:
        return self.connected - self.closed_early


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` and their children alive now (psutil)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system
    return total


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def client(url: str, token: str, room: str, stats: Stats, phase: Phase, *, rate: float, body: str) -> None:
    try:
        ws = await connect(f"{url}?room={room}&token={token}", open_timeout=120, max_queue=None)
        ready = json.loads(await asyncio.wait_for(ws.recv(), 120))
        assert ready["type"] == "ready"
    except Exception:  # noqa: BLE001 - counted, not raised
        stats.connect_failed += 1
        return
    stats.connected += 1
    try:
        await phase.go.wait()
        acked = asyncio.Event()
        await asyncio.gather(
            _reader(ws, stats, phase.stop, acked), _writer(ws, stats, acked, rate=rate, stop=phase.stop, body=body)
        )
    except Exception:  # noqa: BLE001 - a connection lost mid-run is counted
        stats.closed_early += 1
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)


async def _writer(
    ws: ClientConnection, stats: Stats, acked: asyncio.Event, *, rate: float, stop: float, body: str
) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(random.random() * (1 / rate if rate else 0.05))
    while loop.time() < stop:
        cid = uuid.uuid4().hex
        stats.sent_at[cid] = time.perf_counter()
        stats.sent += 1
        acked.clear()
        await ws.send(json.dumps({"type": "send", "client_id": cid, "body": body}))
        if rate:
            await asyncio.sleep(random.expovariate(rate))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(acked.wait(), 15)


async def _reader(ws: ClientConnection, stats: Stats, stop: float, acked: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    mine: set[str] = set()
    while loop.time() < stop + 3:
        try:
            raw = await asyncio.wait_for(ws.recv(), max(0.1, stop + 3 - loop.time()))
        except TimeoutError:
            return
        now = time.perf_counter()
        frame = json.loads(raw)
        kind = frame["type"]
        if kind == "ack":
            mine.add(frame["client_id"])
            t0 = stats.sent_at.get(frame["client_id"])
            if t0 is not None:
                stats.ack.append(now - t0)
            acked.set()
        elif kind == "message":
            t0 = stats.sent_at.get(frame["client_id"])
            if t0 is not None and frame["client_id"] not in mine:
                stats.delivery.append(now - t0)
        elif kind == "error":
            stats.errors += 1


def tokens(base_url: str, n: int) -> list[str]:
    with httpx.Client(timeout=30) as http:
        return [
            http.post(
                f"{base_url}/auth/token",
                json={"user": f"bench-{i}", "ttl_s": 3600},
                headers={"X-Issuer-Secret": ISSUER},
            ).json()["token"]
            for i in range(n)
        ]


async def run_config(
    replicas: list[ChatReplica],
    store_pids: list[int],
    n: int,
    *,
    rate: float,
    duration: float,
    room_size: int,
    body_bytes: int,
) -> Stats:
    """Connect ``n`` clients, then measure ``duration`` seconds of sends."""
    stats, phase = Stats(), Phase()
    toks = tokens(replicas[0].url, n)
    loop = asyncio.get_running_loop()
    body = "x" * body_bytes
    run = uuid.uuid4().hex[:6]
    began = loop.time()
    tasks = [
        asyncio.create_task(
            client(
                replicas[i % len(replicas)].ws_url,
                toks[i],
                f"{run}-{i // room_size}",
                stats,
                phase,
                rate=rate,
                body=body,
            )
        )
        for i in range(n)
    ]
    while stats.connected + stats.connect_failed < n and loop.time() - began < 180:
        await asyncio.sleep(0.1)
    stats.connect_all_s = loop.time() - began
    pids = [r.proc.pid for r in replicas if r.proc is not None]
    server0, store0, client0 = cpu_seconds(pids), cpu_seconds(store_pids), time.process_time()
    phase.stop = loop.time() + duration
    phase.go.set()
    await asyncio.gather(*tasks)
    stats.server_cpu_s = cpu_seconds(pids) - server0
    stats.store_cpu_s = cpu_seconds(store_pids) - store0
    stats.client_cpu_s = time.process_time() - client0
    return stats


def start_stack(n_replicas: int, pg: PostgresServer, redis: RedisServer, logs: Path) -> list[ChatReplica]:
    dsn = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
    env = {
        "CHAT_DATABASE_URL": dsn,
        "CHAT_REDIS_URL": redis.url(),
        "CHAT_JWT_SECRET": "b" * 40,
        "CHAT_ISSUER_SECRET": ISSUER,
        "CHAT_LOG_LEVEL": "WARNING",
        "CHAT_RATE_LIMIT": "1000",
        "CHAT_REDIS_CHANNEL": f"bench-{uuid.uuid4().hex[:6]}",
    }
    replicas = []
    for i in range(n_replicas):
        r = ChatReplica({**env, "CHAT_REPLICA": f"bench-{i + 1}"}, free_port(), logs / f"chat-{i + 1}.log")
        replicas.append(r)
        r.start()
    return replicas


HEADER = (
    "| replicas | clients | rate/client | connect all s | held | failed/dropped | acks/s | deliveries/s "
    "| ack p50 ms | ack p95 ms | delivery p50 ms | delivery p95 ms | errors | replica CPU ms/ack "
    "| PG+Redis CPU ms/ack | client CPU s |"
)


def report(n_replicas: int, n: int, stats: Stats, duration: float, rate: float) -> str:
    ms = 1000.0
    acks = max(1, len(stats.ack))
    return (
        f"| {n_replicas} | {n} | {'closed loop' if not rate else f'{rate:g}/s'} | {stats.connect_all_s:.1f} "
        f"| {stats.held} | {stats.connect_failed + stats.closed_early} | {len(stats.ack) / duration:.0f} "
        f"| {len(stats.delivery) / duration:.0f} "
        f"| {percentile(stats.ack, 0.5) * ms:.1f} | {percentile(stats.ack, 0.95) * ms:.1f} "
        f"| {percentile(stats.delivery, 0.5) * ms:.1f} | {percentile(stats.delivery, 0.95) * ms:.1f} "
        f"| {stats.errors} | {stats.server_cpu_s * ms / acks:.2f} | {stats.store_cpu_s * ms / acks:.2f} "
        f"| {stats.client_cpu_s:.1f} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, nargs="+", default=[200, 1000])
    p.add_argument("--replicas", type=int, nargs="+", default=[1, 3])
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--rate", type=float, default=1.0, help="messages/s per client; 0 = closed loop")
    p.add_argument("--room-size", type=int, default=10)
    p.add_argument("--body-bytes", type=int, default=100)
    args = p.parse_args()
    with contextlib.suppress(ImportError):
        uvloop.install()
    logs = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    pg, redis = PostgresServer().start(), RedisServer().start()
    store_pids = [p.pid for p in (pg.proc, redis.proc) if p is not None]
    print(
        f"# chat_ws: load average {os.getloadavg()[0]:.1f} at start, {os.cpu_count()} CPUs, "
        f"duration {args.duration:g} s, room size {args.room_size}, "
        f"body {args.body_bytes} B, logs in {logs}"
    )
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    try:
        for n_replicas in args.replicas:
            for n in args.clients:
                replicas = start_stack(n_replicas, pg, redis, logs)
                try:
                    stats = asyncio.run(
                        run_config(
                            replicas,
                            store_pids,
                            n,
                            rate=args.rate,
                            duration=args.duration,
                            room_size=args.room_size,
                            body_bytes=args.body_bytes,
                        )
                    )
                finally:
                    for r in replicas:
                        r.stop()
                print(report(n_replicas, n, stats, args.duration, args.rate), flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        pg.cleanup()
        redis.cleanup()


if __name__ == "__main__":
    main()
