"""How many concurrent WebSocket chat users the harness holds on this machine, and at what message rate.

    flock /work/coord/heavy.lock .venv/bin/python benchmarks/load_capacity.py goal [--users 10000] ...

``goal``: the 10,000-user goal through ``resilience load`` on the running local stack, with CPU per
component group (``benchmarks/load_goal.py``). Otherwise a climb:

    .venv/bin/python benchmarks/load_capacity.py [--local [--state-dir D]] [--max-users 10000] [--step 1000]
    .venv/bin/python benchmarks/load_capacity.py --chat-url URL --issuer-secret-file F [--postgres-url URL]

Without a target option it starts its own stack: PostgreSQL, Redis, ``--replicas`` chat replicas and an
HAProxy in front of them (the local stack's shape). One Locust run (``--workers`` processes) climbs in
equal steps (the ``step`` profile) up to ``--max-users``; each step is judged on its own window:
WebSocket connect success >= 99 %, open connections >= 99 % of the users, p95 send->ack < 100 ms. The
climb stops once sockets fail or p95 exceeds ten times the SLO; the capacity is the largest step that
met both SLOs. Per step it prints users, open sockets, connect success, ack p50/p95,
messages/s, deliveries/s, and the CPU of the load generator, the chat replicas and the database, so the
bottleneck is visible. Writes ``capacity.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import resource

from chat.launcher import ChatReplica
from resilience.analysis.integrity import check_integrity
from resilience.analysis.timeline import build_timeline
from resilience.load import LoadParams, LoadProcess, start_load
from resilience.load.events import iter_events
from resilience.targets import get_target
from tests.support.servers import PostgresServer, RedisServer, free_port, wait_port

CONNECT_SLO = 0.99
ACK_P95_SLO_MS = 100.0


@dataclass
class Stack:
    """Where the load goes and which processes are the system under test (for CPU accounting)."""

    chat_url: str
    secret: str
    postgres_url: str | None
    pids: dict[str, list[int]] = field(default_factory=dict)
    spread_urls: list[str] = field(default_factory=list)
    """Other replicas' URLs: users are spread over chat_url + these (no load balancer in between)."""
    """Group name (chat, postgres, redis, haproxy) -> pids."""


@contextmanager
def own_stack(replicas: int, tmp: Path, *, via_haproxy: bool) -> Iterator[Stack]:
    """PostgreSQL + Redis + chat replicas (+ HAProxy in front) on loopback, all stopped by pid on exit.

    Without HAProxy the users connect to the replicas directly, round-robin: one HAProxy process can
    hold at most ~9,900 proxied sockets under this machine's 20,000-descriptor hard limit.
    """
    with ExitStack() as stack:
        pg = PostgresServer().start()
        stack.callback(pg.cleanup)
        redis = RedisServer().start()
        stack.callback(redis.cleanup)
        dsn = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        secret = uuid.uuid4().hex
        env = {
            "CHAT_DATABASE_URL": dsn,
            "CHAT_REDIS_URL": redis.url(),
            "CHAT_ISSUER_SECRET": secret,
            "CHAT_JWT_SECRET": uuid.uuid4().hex * 2,
            "CHAT_LOG_LEVEL": "WARNING",
            "CHAT_RATE_LIMIT": "1000",
        }
        chats = []
        for i in range(replicas):
            replica = ChatReplica({**env, "CHAT_REPLICA": f"chat-{i}"}, free_port(), tmp / f"chat-{i}.log")
            stack.callback(replica.stop)
            chats.append(replica.start(timeout=60))
        pids = {
            "chat": [r.proc.pid for r in chats if r.proc is not None],
            "postgres": [pg.proc.pid] if pg.proc else [],
            "redis": [redis.proc.pid] if redis.proc else [],
        }
        if not via_haproxy:
            yield Stack(chats[0].url, secret, dsn, pids, [r.url for r in chats[1:]])
            return
        port = free_port()
        servers = "\n".join(f"  server c{i} 127.0.0.1:{r.port} check inter 1s" for i, r in enumerate(chats))
        cfg = tmp / "haproxy.cfg"
        cfg.write_text(f"""global
  maxconn 9900
defaults
  mode http
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
frontend chat
  bind 127.0.0.1:{port}
  default_backend chat
backend chat
  balance roundrobin
{servers}
""")
        haproxy = subprocess.Popen(
            [shutil.which("haproxy") or "/usr/sbin/haproxy", "-db", "-f", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "haproxy.log").open("wb"),
            start_new_session=True,
        )
        stack.callback(_stop, haproxy)
        wait_port(port, 10)
        yield Stack(f"http://127.0.0.1:{port}", secret, dsn, {**pids, "haproxy": [haproxy.pid]})


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextmanager
def local_stack(state_dir: Path | None, *, direct: bool) -> Iterator[Stack]:
    """The running local target (`resilience up`); ``direct``: users spread over the replicas, not HAProxy."""
    target: Any = get_target("local", **({"state_dir": state_dir} if state_dir else {}))
    if not target.is_up():
        sys.exit("the local target is not running: `resilience up` first")
    ep = target.endpoints()
    pids = {
        name: [p.pid for p in target.pods(f"app={app}") if p.pid]
        for name, app in (
            ("chat", "chat-api"),
            ("postgres", "postgres"),
            ("redis", "redis"),
            ("haproxy", "haproxy"),
            ("netfault", "toxiproxy"),
        )
    }
    if direct and ep.chat_replicas:
        yield Stack(ep.chat_replicas[0], target.issuer_secret(), ep.postgres, pids, list(ep.chat_replicas[1:]))
    else:
        yield Stack(ep.chat, target.issuer_secret(), ep.postgres, pids)


def _tree(pids: list[int]) -> list[psutil.Process]:
    out = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            out += [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return out


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


class CpuMeter:
    """CPU use per process group between two readings, in cores (1.0 = one core busy)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = {name: _tree(pids) for name, pids in groups.items()}
        self._last = self._read()

    def _read(self) -> tuple[float, dict[str, float], float]:
        busy = psutil.cpu_times()
        return time.monotonic(), {n: _cpu_seconds(p) for n, p in self.groups.items()}, busy.user + busy.system

    def take(self) -> dict[str, float]:
        now, per, machine = self._read()
        t0, before, machine0 = self._last
        self._last = (now, per, machine)
        span = max(1e-6, now - t0)
        out = {name: round((per[name] - before[name]) / span, 2) for name in per}
        out["machine"] = round((machine - machine0) / span, 2)
        return out


@dataclass
class StepResult:
    users: int
    ws_open: int
    connect_success: float | None
    ack_p50_ms: float | None
    ack_p95_ms: float | None
    p95_ms: float | None
    error_rate: float | None
    messages_per_s: float
    deliveries_per_s: float
    delivery_p95_ms: float | None
    cpu_cores: dict[str, float]
    passed: bool
    load_rss_mb: float = 0.0
    """Resident memory of the Locust processes at the end of the step."""


def judge_step(
    events: Path, users: int, window: tuple[float, float], hold_from: float, cpu: dict[str, float]
) -> StepResult:
    """Figures of one step: connects over the whole step, latency and rates over its hold part."""
    whole = build_timeline(events, resolution_s=1.0, start=window[0], end=window[1])
    hold = build_timeline(events, resolution_s=1.0, start=hold_from, end=window[1])
    span = max(1e-6, window[1] - hold_from)
    ws_open = min((r["ws_open"] for r in hold.rows[:-1]), default=0)  # held through the whole hold window
    cs = whole.summary["connect_success"]
    s = hold.summary
    # with long think times the hold window may see few acks: judge latency over the whole step then
    ack_p95 = s["ack_p95_ms"] if s["ack_count"] >= 20 else whole.summary["ack_p95_ms"]
    ok = (
        (cs is None or cs >= CONNECT_SLO)
        and ws_open >= CONNECT_SLO * users
        and ack_p95 is not None
        and ack_p95 < ACK_P95_SLO_MS
    )
    return StepResult(
        users,
        ws_open,
        cs,
        s["ack_p50_ms"],
        ack_p95,
        s["p95_ms"],
        s["error_rate"],
        round(s["messages_acked"] / span, 1),
        round(s["delivery_count"] / span, 1),
        s["delivery_p95_ms"],
        cpu,
        ok,
    )


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def print_row(r: StepResult, groups: list[str]) -> None:
    cpu = " ".join(f"{g}={r.cpu_cores.get(g, 0):.2f}" for g in groups)
    print(
        f"{r.users:>6} {r.ws_open:>6} {_fmt(r.connect_success and r.connect_success * 100, '.2f'):>7}% "
        f"{_fmt(r.ack_p50_ms):>7} {_fmt(r.ack_p95_ms):>7} {r.messages_per_s:>7.1f} {r.deliveries_per_s:>8.1f} "
        f"{'PASS' if r.passed else 'FAIL'}  load RSS {r.load_rss_mb:.0f} MiB  cpu(cores) {cpu}",
        flush=True,
    )


def climb(stack: Stack, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    steps = math.ceil(args.max_users / args.step)
    ramp_s = args.step / args.spawn_rate
    step_s = ramp_s + args.settle + args.hold
    params = LoadParams(
        profile="step",
        users=steps * args.step,
        spawn_rate=args.spawn_rate,
        duration_s=steps * step_s + 10,
        think_time_s=args.think,
        room_size=args.room_size,
        rest_share=args.rest_share,
        message_bytes=args.message_bytes,
        profile_options={"steps": steps, "step_s": step_s},
    )
    print(
        f"{steps} steps of {args.step} users, {step_s:.0f} s each (ramp {ramp_s:.0f} s + settle {args.settle:g} s"
        f" + hold {args.hold:g} s); think {args.think:g} s, room size {args.room_size}, {args.workers} workers"
    )
    load: LoadProcess = start_load(
        stack.chat_url,
        stack.secret,
        params,
        out / "load",
        workers=args.workers,
        spread_urls=stack.spread_urls,
        log_level="WARNING",
    )
    time.sleep(1.0)  # the writers flush every 0.5 s
    t0 = _first_event(load.events_dir)  # the shape's time zero (start_load returns after the first user)
    groups = {**stack.pids, "load": load.pids}
    meter = CpuMeter(groups)
    names = [*groups, "machine"]
    print(f"{'users':>6} {'open':>6} {'connect':>8} {'ack50':>7} {'ack95':>7} {'msg/s':>7} {'deliv/s':>8}  (ms)")
    results: list[StepResult] = []
    try:
        for k in range(steps):
            start, end = t0 + k * step_s, t0 + (k + 1) * step_s
            hold_from = start + ramp_s + args.settle
            _sleep_until(hold_from, load)
            meter.take()
            _sleep_until(end + 1.0, load)  # +1 s: the writers flush every 0.5 s
            result = judge_step(load.events_dir, (k + 1) * args.step, (start, end), hold_from, meter.take())
            result.load_rss_mb = _rss_mb(load.pids)
            print_row(result, names)
            results.append(result)
            if _saturated(result):
                break
    finally:
        load.stop(timeout=60)
    passed = [r for r in results if r.passed]
    integrity = None
    if stack.postgres_url:
        time.sleep(2)
        integrity = check_integrity(load.ledger_dir, stack.postgres_url).to_json()
        integrity = {
            k: integrity[k] for k in ("acked", "lost", "duplicated", "out_of_order", "indeterminate", "delivery_ratio")
        }
    return {
        "capacity_users": passed[-1].users if passed else 0,
        "messages_per_s_at_capacity": passed[-1].messages_per_s if passed else 0.0,
        "slo": {"connect_success": CONNECT_SLO, "ack_p95_ms": ACK_P95_SLO_MS},
        "params": {k: v for k, v in vars(args).items() if k not in ("issuer_secret_file",)},
        "cpu_count": psutil.cpu_count(),
        "steps": [asdict(r) for r in results],
        "integrity": integrity,
    }


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for proc in _tree(pids):
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return round(total / 2**20, 1)


def _saturated(r: StepResult) -> bool:
    """Stop climbing: sockets no longer all open, or acks ten times over the SLO (one noisy step is not)."""
    connects_fail = r.connect_success is not None and r.connect_success < CONNECT_SLO
    return connects_fail or r.ws_open < CONNECT_SLO * r.users or (r.ack_p95_ms or 0) > 10 * ACK_P95_SLO_MS


def _first_event(events: Path) -> float:
    return min((rec[0] for rec in iter_events(events)), default=time.time())


def _sleep_until(t: float, load: LoadProcess) -> None:
    while time.time() < t:
        if not load.alive():
            return
        time.sleep(min(0.5, max(0.0, t - time.time())))


def _raise_fd_limit(want: int = 200_000) -> None:
    """Children inherit it: 10,000 sockets through HAProxy need ~20,000 descriptors there alone."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> int:
    if sys.argv[1:2] == ["goal"]:
        from benchmarks.load_goal import main as goal  # noqa: PLC0415 - the other mode, loaded when asked

        del sys.argv[1]
        return goal()
    _raise_fd_limit()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--local", action="store_true", help="use the running local target")
    ap.add_argument("--state-dir", type=Path)
    ap.add_argument("--direct", action="store_true", help="local: users connect to the replicas, not HAProxy")
    ap.add_argument("--chat-url")
    ap.add_argument("--issuer-secret-file", type=Path)
    ap.add_argument("--postgres-url")
    ap.add_argument("--replicas", type=int, default=2, help="own stack: chat replicas")
    ap.add_argument("--via-haproxy", action="store_true", help="own stack: put HAProxy in front of the replicas")
    ap.add_argument("--max-users", type=int, default=10_000)
    ap.add_argument("--step", type=int, default=1000)
    ap.add_argument("--spawn-rate", type=float, default=200.0)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after a ramp before the hold window")
    ap.add_argument("--hold", type=float, default=20.0, help="seconds each step is measured at full users")
    ap.add_argument("--think", type=float, default=30.0, help="mean seconds between a user's actions")
    ap.add_argument("--room-size", type=int, default=10)
    ap.add_argument("--rest-share", type=float, default=0.1)
    ap.add_argument("--message-bytes", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2, help="Locust worker processes")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="load-capacity-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.local:
        ctx = local_stack(args.state_dir, direct=args.direct)
    elif args.chat_url:
        if not args.issuer_secret_file:
            ap.error("--chat-url needs --issuer-secret-file")
        ctx = _external(args.chat_url, args.issuer_secret_file.read_text().strip(), args.postgres_url)
    else:
        ctx = own_stack(args.replicas, out, via_haproxy=args.via_haproxy)
    with ctx as stack:
        result = climb(stack, args, out)
    (out / "capacity.json").write_text(json.dumps(result, indent=2, default=str))
    print(
        f"capacity: {result['capacity_users']} concurrent users at connect success >= 99 % and p95 ack < 100 ms;"
        f" {result['messages_per_s_at_capacity']} messages/s; integrity {result['integrity']}; -> {out}"
    )
    return 0


@contextmanager
def _external(url: str, secret: str, postgres_url: str | None) -> Iterator[Stack]:
    yield Stack(url, secret, postgres_url, {})


if __name__ == "__main__":
    sys.exit(main())
