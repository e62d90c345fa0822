"""After a rolling restart of the chat replicas, is the service slower, and why? (bad-release-rollback's noise)

    flock /work/coord/heavy.lock .venv/bin/python benchmarks/restart_noise.py [--users 40] [--restart-at 40]

Needs the local stack up (`resilience up`). Runs the game day's load (40 users, think time 0.5 s) for
``--duration`` s (default 130; ~2.5 min in all), restarts the three replicas one by one on the same release
at ``--restart-at`` s (the rollback's drain / restart / ready path, with nothing bad in between: an A/B
against a good -> good rollout), then prints, for the 20 s before and 10 s windows after the restart:
request count, p50/p95 per request kind, 1 s windows with p95 > 100 ms, and open WebSockets per replica
(from each replica's /metrics) before and after. Load average printed before and after.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import requests

from resilience.load.events import REQUEST_KINDS, Kind, read_event_array
from resilience.targets import get_target
from resilience.targets.local import preflight, releases

SLO_P95_MS = 100.0


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def _sockets(urls: list[str]) -> list[int]:
    out = []
    for url in urls:
        try:
            text = requests.get(f"{url}/metrics", timeout=2).text
            m = re.search(r"^chat_ws_connections (\S+)", text, re.M)
            out.append(int(float(m.group(1))) if m else -1)
        except requests.RequestException:
            out.append(-1)
    return out


def _restart_all(target: object) -> None:
    view = target._view()  # type: ignore[attr-defined]
    bins = preflight.find_binaries()
    deadline = time.monotonic() + 120
    for name in view.state.chat_names():
        releases._roll_one(view, bins, name, view.state.replica_releases.get(name, "good"), deadline)


def _table(events_dir: Path, restart_start: float, restart_end: float) -> None:
    ev = read_event_array(events_dir, strict=False)
    req = ev[np.isin(ev["kind"], [int(k) for k in REQUEST_KINDS])]
    start = req["t"] - req["value"] / 1000.0
    kinds = (Kind.ACK, Kind.REST_SEND, Kind.REST_HISTORY)
    print(
        "  window                  | requests | " + " | ".join(f"{k.name.lower():>13}" for k in kinds) + " | p95>100ms"
    )
    windows = [(restart_start - 20, restart_start, "-20..0 s before restart")]
    windows += [(restart_end + a, restart_end + a + 10, f"+{a}..+{a + 10} s after") for a in range(0, 80, 10)]
    for lo, hi, label in windows:
        sel = (start >= lo) & (start < hi)
        part, ps = req[sel], start[sel]
        if not len(part):
            continue
        cells = []
        for k in kinds:
            v = part["value"][part["kind"] == int(k)].astype(float)
            cells.append(f"{np.percentile(v, 50):5.1f}/{np.percentile(v, 95):6.1f}" if v.size else "      -/-     ")
        slow = sum(
            bool(w.size and np.percentile(w, 95) > SLO_P95_MS)
            for w in (part["value"][(ps >= lo + s) & (ps < lo + s + 1)] for s in range(int(hi - lo)))
        )
        print(f"  {label:>23} | {len(part):8d} | " + " | ".join(cells) + f" | {slow} of {int(hi - lo)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--duration", type=float, default=130.0)
    parser.add_argument("--restart-at", type=float, default=40.0)
    args = parser.parse_args()
    target = get_target("local")
    urls = list(target.endpoints().chat_replicas)
    results = Path("results")
    before = set(results.glob("*")) if results.is_dir() else set()
    print(f"loadavg before: {_loadavg()}", flush=True)
    cmd = [sys.executable, "-m", "resilience", "load", "--users", str(args.users), "--spawn-rate", "20"]
    cmd += ["--think-time", "0.5", "--duration", str(args.duration), "--no-report"]
    load = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=os.environ.copy())
    time.sleep(args.restart_at)
    print(f"sockets per replica before restart: {_sockets(urls)}", flush=True)
    t0 = time.time()
    _restart_all(target)
    t1 = time.time()
    print(f"restarted 3 replicas in {t1 - t0:.1f} s; sockets per replica: {_sockets(urls)}", flush=True)
    time.sleep(max(0.0, args.duration - args.restart_at - (t1 - t0) - 5))
    print(f"sockets per replica 5 s before the load ends: {_sockets(urls)}", flush=True)
    load.wait()
    print(f"loadavg after: {_loadavg()}")
    new = sorted(set(results.glob("*")) - before)
    if not new:
        raise SystemExit("the load wrote no run folder")
    print(f"run folder: {new[-1]}")
    events = next(p.parent for p in new[-1].rglob("events-*.bin"))
    _table(events, t0, t1)


if __name__ == "__main__":
    main()
