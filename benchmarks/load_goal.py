"""The 10,000-user goal on the local stack, measured through the product's own command (issue 18's done-when).

    flock /work/coord/heavy.lock .venv/bin/python benchmarks/load_goal.py [--users 10000] [--duration 180]
        [--think-time 60] [--spawn-rate R] [--state-dir D] [--up]

Runs ``resilience load --users N --duration S --think-time T`` against the running local stack (``--up``:
``resilience up --users N`` first if it is not running) and, every 5 s meanwhile, the CPU of each group of
processes - the Locust generator (every process of the load command's tree), the chat replicas, the HAProxy
tier, PostgreSQL, Redis, the fault proxy and the machine - so the limit (service or generator) shows in
figures. Prints the load average before and after, then: users held (peak open WebSockets), connect
success, p95 (all requests and send->ack), acked sends/s, the generator's CPU max / open files / loop lag,
the verdict, 0 lost; and the mean and peak CPU per group in cores, during the ramp and the held window. About
users / spawn rate + duration + 60 s (~6.5 min for the defaults).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load_capacity import CpuMeter
from resilience.targets import get_target

GROUPS = (
    ("chat", "chat-api"),
    ("haproxy", "haproxy"),
    ("postgres", "postgres"),
    ("redis", "redis"),
    ("netfault", "toxiproxy"),
)


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def _sample(groups: dict[str, list[int]], load_pid: int, stop: threading.Event, out: list[dict[str, float]]) -> None:
    """CPU per group every 5 s; the generator's processes are re-read each time (workers start late)."""
    while not stop.wait(5.0):
        try:
            gen = [load_pid, *(c.pid for c in psutil.Process(load_pid).children(recursive=True))]
        except psutil.NoSuchProcess:
            return
        meter = CpuMeter({**groups, "generator": gen})
        time.sleep(2.0)
        reading = meter.take()
        if min(reading.values()) >= 0:  # negative: a process of a group ended between the two readings
            out.append({**reading, "t": time.time()})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--duration", type=float, default=180.0)
    ap.add_argument("--think-time", type=float, default=60.0)
    ap.add_argument("--spawn-rate", type=float)
    ap.add_argument("--state-dir", type=Path)
    ap.add_argument("--up", action="store_true", help="resilience up --users N first when the stack is not running")
    ap.add_argument("--results", type=Path, default=Path("results"))
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("resilience"))
    where = ["--state-dir", str(args.state_dir)] if args.state_dir else []
    target: Any = get_target("local", **({"state_dir": args.state_dir} if args.state_dir else {}))
    if not target.is_up():
        if not args.up:
            sys.exit("the local stack is not running: `resilience up` first (or --up)")
        subprocess.run([exe, "up", "--users", str(args.users), *where], check=True)
    groups = {name: [p.pid for p in target.pods(f"app={app}") if p.pid] for name, app in GROUPS}
    argv = [exe, "load", "--users", str(args.users), "--duration", f"{args.duration:g}"]
    argv += ["--think-time", f"{args.think_time:g}", "--results", str(args.results), "--no-report", *where]
    if args.spawn_rate:
        argv += ["--spawn-rate", f"{args.spawn_rate:g}"]
    print(f"load average before: {_loadavg()}", flush=True)
    print("$ " + " ".join(argv[1:]), flush=True)
    t0 = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    samples: list[dict[str, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(groups, proc.pid, stop, samples), daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join(10)
    print(out, end="")
    print(f"load average after: {_loadavg()} ({time.time() - t0:.0f} s)")
    runs = sorted(args.results.glob("*-load-*/run.json"), key=lambda p: p.stat().st_mtime)
    if not runs:
        print("no run.json written")
        return 2
    run = json.loads(runs[-1].read_text())
    load, gen, integ = run["load"], run["load"].get("generator") or {}, run.get("integrity") or {}
    print(
        f"users held {load['users_peak']} of {load['users']}; connect success "
        f"{(load['ws_connect_success'] or 0):.2%}; p95 {load['p95_ms']} ms (send->ack {load['ack_p95_ms']} ms); "
        f"{load['messages_per_s']} acked sends/s; lost {integ.get('lost')}; verdict {run['verdict']}; held "
        f"{load.get('held_s')} s after a ramp of {load.get('ramp_s')} s"
    )
    print(
        f"generator: {gen.get('processes')} processes, CPU max {gen.get('cpu_max')} %, open files max "
        f"{gen.get('fds_max')}, loop lag max {gen.get('lag_max_ms')} ms, saturated {gen.get('saturated')}"
    )
    held_from = run["started"] + (load.get("ramp_s") or 0.0)
    for part, rows in (
        ("the ramp", [s for s in samples if s["t"] < held_from]),
        ("the held window", [s for s in samples if s["t"] >= held_from]),
    ):
        if not rows:
            continue
        print(f"CPU in cores during {part}, mean / peak over 5 s samples:")
        for name in sorted({k for s in rows for k in s} - {"t"}):
            vals = [s.get(name, 0.0) for s in rows]
            print(f"  {name:<10} {sum(vals) / len(vals):5.2f} / {max(vals):5.2f}")
    return 0 if run["verdict"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
