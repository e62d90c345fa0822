"""WebSocket load on the chat service: N concurrent clients against 1 and 3 replicas.

Starts its own PostgreSQL and Redis (throw-away, free ports) and ``python -m chat`` replicas, connects N
asyncio WebSocket clients (spread round-robin over the replicas, or a room per replica with ``--room-affinity``;
``--room-size`` clients per room), lets
each send at ``--rate`` messages/s (0 = closed loop: the next send right after the ack) for ``--duration``
seconds, and prints per configuration: connections held, messages/s acked, deliveries/s, p50/p95
send->ack and send->delivery (delivery = the push to every *other* member of the room, which for members
on another replica goes through Redis).

    .venv/bin/python benchmarks/chat_ws.py --clients 200 1000 --replicas 1 3 --duration 20 --rate 1

``--compare REV`` measures the service of commit REV too ("before", run from a temporary git worktree of
REV: the replicas start there, so ``python -m chat`` imports that commit's ``chat`` package) and this
tree's ("after"), one configuration after the other on the same PostgreSQL and Redis, each on a database
of its own. ``--flame PREFIX`` records replica 1 of each configuration with py-spy (installed separately:
a tool, not a dependency) during the measured window into ``PREFIX-<code>-<replicas>x<clients>.svg``;
py-spy's own CPU then loads the box, so take figures from a run without it.

Every process it starts is stopped by pid at the end, also on Ctrl-C; the worktree is removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
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
ROOT = Path(__file__).resolve().parent.parent


def loadavg() -> str:
    """The first three fields of /proc/loadavg."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A detached git worktree of ``rev`` in a temporary folder, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="chat-bench-rev-")) / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev], check=True, capture_output=True
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False, capture_output=True
        )
        shutil.rmtree(path.parent, ignore_errors=True)


def flame(pid: int, duration: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy recording ``pid`` for ``duration`` s into ``out`` (None when py-spy is not installed)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print(f"# py-spy not found: no flame graph {out}", file=sys.stderr)
        return None
    cmd = [
        exe,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(duration)),
        "--rate",
        "200",
        "--nonblocking",
        "--output",
        str(out),
    ]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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
    closed_why: Counter[str] = field(default_factory=Counter)
    """Why connections ended early: the exception's type and text (its first 80 characters)."""
    connect_all_s: float = 0.0
    sent_at: dict[str, float] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    server_sys_s: float = 0.0
    """The kernel's share of ``server_cpu_s`` (system calls: socket reads and writes)."""
    store_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def held(self) -> int:
        return self.connected - self.closed_early


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """(user + system, system) CPU time of ``pids`` and their children alive now (psutil)."""
    total = system = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system
                    system += t.system
    return total, system


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
        mine: set[str] = set()  # this client's sends: its own message pushed back is not a delivery
        await asyncio.gather(
            _reader(ws, stats, phase.stop, acked, mine),
            _writer(ws, stats, acked, mine, rate=rate, stop=phase.stop, body=body),
        )
    except Exception as exc:  # noqa: BLE001 - a connection lost mid-run is counted, with why
        stats.closed_early += 1
        stats.closed_why[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)


async def _writer(
    ws: ClientConnection, stats: Stats, acked: asyncio.Event, mine: set[str], *, rate: float, stop: float, body: str
) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(random.random() * (1 / rate if rate else 0.05))
    while loop.time() < stop:
        cid = uuid.uuid4().hex
        stats.sent_at[cid] = time.perf_counter()
        mine.add(cid)
        stats.sent += 1
        acked.clear()
        await ws.send(json.dumps({"type": "send", "client_id": cid, "body": body}))
        if rate:
            await asyncio.sleep(random.expovariate(rate))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(acked.wait(), 15)


async def _reader(ws: ClientConnection, stats: Stats, stop: float, acked: asyncio.Event, mine: set[str]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < stop + 3:
        try:
            raw = await asyncio.wait_for(ws.recv(), max(0.1, stop + 3 - loop.time()))
        except TimeoutError:
            return
        now = time.perf_counter()
        frame = json.loads(raw)
        kind = frame["type"]
        if kind == "ack":
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
    flame_out: Path | None = None,
    room_affinity: bool = False,
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
                replicas[(i // room_size if room_affinity else i) % len(replicas)].ws_url,
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
    spy = flame(pids[0], duration, flame_out) if flame_out is not None else None
    phase.go.set()
    await asyncio.gather(*tasks)
    if spy is not None:
        await asyncio.to_thread(spy.wait, 60)
    server1 = cpu_seconds(pids)
    stats.server_cpu_s, stats.server_sys_s = server1[0] - server0[0], server1[1] - server0[1]
    stats.store_cpu_s = cpu_seconds(store_pids)[0] - store0[0]
    stats.client_cpu_s = time.process_time() - client0
    return stats


def start_stack(
    n_replicas: int, pg: PostgresServer, redis: RedisServer, logs: Path, *, code: str, tree: Path | None
) -> list[ChatReplica]:
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
        r = ChatReplica(
            {**env, "CHAT_REPLICA": f"bench-{i + 1}"}, free_port(), logs / f"chat-{code}-{i + 1}.log", cwd=tree
        )
        replicas.append(r)
        r.start()
    return replicas


HEADER = (
    "| code | replicas | clients | rate/client | connect all s | held | failed/dropped | acks/s | deliveries/s "
    "| ack p50 ms | ack p95 ms | delivery p50 ms | delivery p95 ms | errors | replica CPU ms/ack (system) "
    "| PG+Redis CPU ms/ack | client CPU s | loadavg before | loadavg after |"
)


def report(code: str, n_replicas: int, n: int, stats: Stats, *, duration: float, rate: float, load: str) -> str:
    ms = 1000.0
    acks = max(1, len(stats.ack))
    return (
        f"| {code} | {n_replicas} | {n} | {'closed loop' if not rate else f'{rate:g}/s'} | {stats.connect_all_s:.1f} "
        f"| {stats.held} | {stats.connect_failed + stats.closed_early} | {len(stats.ack) / duration:.0f} "
        f"| {len(stats.delivery) / duration:.0f} "
        f"| {percentile(stats.ack, 0.5) * ms:.1f} | {percentile(stats.ack, 0.95) * ms:.1f} "
        f"| {percentile(stats.delivery, 0.5) * ms:.1f} | {percentile(stats.delivery, 0.95) * ms:.1f} "
        f"| {stats.errors} | {stats.server_cpu_s * ms / acks:.2f} ({stats.server_sys_s * ms / acks:.2f}) "
        f"| {stats.store_cpu_s * ms / acks:.2f} "
        f"| {stats.client_cpu_s:.1f} | {load} | {loadavg()} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, nargs="+", default=[200, 1000])
    p.add_argument("--replicas", type=int, nargs="+", default=[1, 3])
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--rate", type=float, default=1.0, help="messages/s per client; 0 = closed loop")
    p.add_argument("--room-size", type=int, default=10)
    p.add_argument("--body-bytes", type=int, default=100)
    p.add_argument(
        "--room-affinity",
        action="store_true",
        help="every client of a room on one replica (as a balancer hashing the room would place them), "
        "instead of round-robin: no fan-out between replicas",
    )
    p.add_argument("--compare", metavar="REV", help="also measure the service of commit REV (before) beside this tree")
    p.add_argument("--flame", metavar="PREFIX", type=Path, help="py-spy flame graph of replica 1 per configuration")
    args = p.parse_args()
    with contextlib.ExitStack() as stack:
        codes: list[tuple[str, Path | None]] = [("this", None)]
        if args.compare:
            try:
                before = stack.enter_context(worktree(args.compare))
            except subprocess.CalledProcessError as exc:
                sys.exit(f"chat_ws: --compare {args.compare}: {exc.stderr.decode().strip().splitlines()[-1]}")
            codes = [(f"before ({args.compare})", before), ("after", None)]
        measure(args, codes)


def measure(args: argparse.Namespace, codes: list[tuple[str, Path | None]]) -> None:
    with contextlib.suppress(ImportError):
        uvloop.install()
    logs = Path(tempfile.mkdtemp(prefix="chat-bench-"))
    pg, redis = PostgresServer().start(), RedisServer().start()
    store_pids = [p.pid for p in (pg.proc, redis.proc) if p is not None]
    print(
        f"# chat_ws: load average {loadavg()} at start, {os.cpu_count()} CPUs, rate {args.rate:g}/client, "
        f"duration {args.duration:g} s, room size {args.room_size}, "
        f"body {args.body_bytes} B, logs in {logs}"
    )
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    try:
        for n_replicas, n, (code, tree) in itertools.product(args.replicas, args.clients, codes):
            load = loadavg()
            replicas = start_stack(n_replicas, pg, redis, logs, code=code.split()[0], tree=tree)
            flame_out = None
            if args.flame is not None:
                flame_out = args.flame.with_name(f"{args.flame.name}-{code.split()[0]}-{n_replicas}x{n}.svg")
            try:
                stats = asyncio.run(
                    run_config(
                        replicas,
                        store_pids,
                        n,
                        rate=args.rate,
                        duration=args.duration,
                        room_size=args.room_size,
                        room_affinity=args.room_affinity,
                        body_bytes=args.body_bytes,
                        flame_out=flame_out,
                    )
                )
            finally:
                for r in replicas:
                    r.stop()
            print(report(code, n_replicas, n, stats, duration=args.duration, rate=args.rate, load=load), flush=True)
            for why, count in stats.closed_why.most_common():
                print(f"#   {code}: {count} closed early: {why}", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        pg.cleanup()
        redis.cleanup()


if __name__ == "__main__":
    main()
