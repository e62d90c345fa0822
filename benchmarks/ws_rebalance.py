"""WebSocket spread and send->ack latency per replica after a rolling restart, rebalancing off and on.

    flock -o /work/coord/heavy.lock .venv/bin/python benchmarks/ws_rebalance.py [--sockets 40] [--window 60]

For each configuration (CHAT_REBALANCE=0, then the service's defaults) it brings up its own local stack
(three chat replicas behind the HAProxy leastconn tier, temp state dir, torn down afterwards), opens
``--sockets`` WebSockets through HAProxy (rooms of 10, each socket sends every ``--send-every`` s; clients
reconnect at once with ``after=`` and resend unacknowledged sends, tests/support/wsclients.py), lets them
run ``--warmup`` s, restarts the three replicas one by one on the same release (drain, SIGTERM: 1012,
restart, ready: the rollback's path) and then, for ``--window`` s from the end of the restart, prints the
spread of sockets over the replicas (each ``ready`` names its replica), when it was last outside the
rebalancing tolerance, the 1012 closes, send->ack p50/p95 per replica, and an integrity check of every
socket's stream (every acknowledged message of its room after it joined, in seq order, no gap, no
duplicate). Load average before and after each configuration. About 2.5 min per configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chat.launcher import issue_test_token
from chat.rebalance import Policy
from resilience.targets.local import LocalTarget, preflight, releases
from tests.support.local_stack import local_state_root
from tests.support.wsclients import StreamClient, check_stream

NAMES = ["chat-1", "chat-2", "chat-3"]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def spread(clients: list[StreamClient]) -> list[int]:
    on = Counter(c.replica for c in clients if c.connected)
    return [on.get(n, 0) for n in NAMES]


def restart_all(target: LocalTarget) -> None:
    """The three replicas one by one on their release: HAProxy drain, SIGTERM, start, ready (the rollback's path)."""
    view = target._view()
    bins = preflight.find_binaries()
    deadline = time.monotonic() + 180
    for name in view.state.chat_names():
        releases._roll_one(view, bins, name, view.state.replica_releases.get(name, "good"), deadline)


async def measure(target: LocalTarget, args: argparse.Namespace) -> None:
    base = target.endpoints().chat
    ws_url = base.replace("http://", "ws://", 1) + "/ws"
    secret = target.issuer_secret()
    tokens = [await asyncio.to_thread(issue_test_token, base, secret, f"u{i}") for i in range(args.sockets)]
    clients = [
        StreamClient(ws_url, tokens[i], f"room-{i // 10}", f"c{i}", send_every_s=args.send_every)
        for i in range(args.sockets)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in clients]
    try:
        while not all(c.connected for c in clients):
            await asyncio.sleep(0.1)
        await asyncio.sleep(args.warmup)
        print(f"  sockets per replica before the restart: {spread(clients)}")
        t0 = time.time()
        await asyncio.to_thread(restart_all, target)
        t1 = time.time()
        closes_at_restart = sum(c.closes[1012] for c in clients)
        print(f"  rolling restart took {t1 - t0:.1f} s; right after it: {spread(clients)}")
        samples: list[tuple[float, list[int]]] = []
        while time.time() < t1 + args.window:
            samples.append((time.time() - t1, spread(clients)))
            await asyncio.sleep(0.5)
        for c in clients:
            c.paused = True
        deadline = time.monotonic() + 30
        while any(c.pending for c in clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the last deliveries
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    report(clients, samples, t1, args.window, sum(c.closes[1012] for c in clients) - closes_at_restart)


def report(
    clients: list[StreamClient], samples: list[tuple[float, list[int]]], t1: float, window: float, shed: int
) -> None:
    limit = Policy().threshold(len(clients) / len(NAMES))
    for at in (5, 10, 30, window):
        near = min(samples, key=lambda s: abs(s[0] - at))
        print(f"  +{near[0]:4.1f} s: {near[1]}")
    outside = [t for t, s in samples if max(s) > limit or sum(s) < len(clients)]
    last = f"{max(outside):.1f} s" if outside else "never"
    print(f"  last outside the tolerance (max <= {limit:.1f} of {len(clients)}, all connected): {last}")
    print(f"  1012 closes after the restart (rebalancing): {shed}")
    print(f"  send->ack over the {window:.0f} s after the restart:")
    print("    replica | acks | p50 ms | p95 ms")
    acks = [a for c in clients for a in c.acks if t1 <= a.at < t1 + window]
    for name in [*NAMES, "all"]:
        ms = np.array([a.ms for a in acks if name in (a.replica, "all")], dtype=float)
        if ms.size:
            print(f"    {name:7} | {ms.size:4d} | {np.percentile(ms, 50):6.1f} | {np.percentile(ms, 95):6.1f}")
        else:
            print(f"    {name:7} |    0 |      - |      -")
    acked: dict[str, set[int]] = {}
    for c in clients:
        acked.setdefault(c.room, set()).update(a.id for a in c.acks)
    problems = [p for c in clients for p in check_stream(c, acked[c.room])]
    unacked = sum(len(c.pending) for c in clients)
    dups = sum(c.duplicates for c in clients)
    print(
        f"  integrity: {len(problems)} sockets with a gap/reorder/missing message, {dups} duplicates, {unacked} unacked"
    )
    for p in problems[:5]:
        print(f"    {p}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=40)
    parser.add_argument("--send-every", type=float, default=0.5)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--only", choices=("off", "on"), help="one configuration only")
    args = parser.parse_args()
    configs = [("rebalancing off (CHAT_REBALANCE=0)", {"CHAT_REBALANCE": "0"}), ("rebalancing on (defaults)", {})]
    for label, env in configs:
        if args.only and (args.only == "off") != bool(env):
            continue
        print(f"{label}: loadavg before {loadavg()}", flush=True)
        with local_state_root("resilience-wsbench-") as root:
            target = LocalTarget(state_dir=root / "state", replicas=3, chat_env=env)
            try:
                target.up()
                asyncio.run(measure(target, args))
            finally:
                target.down(purge=True)
        print(f"{label}: loadavg after {loadavg()}", flush=True)


if __name__ == "__main__":
    main()
