"""Benchmark the local target: cold bring-up, teardown and failover windows, min/median/max.

    .venv/bin/python benchmarks/local_stack.py [--runs 5] [--failovers 3] [--modes primary-crash,...]
    .venv/bin/python benchmarks/local_stack.py --crashes 50        # only the crash series (issue 20)

``--crashes N``: N consecutive primary crashes per kind (``--kinds primary-crash,postmaster-kill``) on one
stack, under a writer through HAProxy that counts its acknowledged inserts; before each crash a backend
of the primary is busy in a loop (a child that outlives a killed postmaster). Per crash: writes resume
(goal median <= 2 s), the old primary rejoins as a streaming replica under a new postmaster (goal: every
one <= 60 s; how often it is the synchronous one is printed), and afterwards 0 acknowledged writes lost.
Prints the run's duration and an estimate for 50 crashes per kind.

Each bring-up is cold (fresh initdb, base backups, every chat replica ready behind HAProxy) in its own
temp state dir; goal <= 15 s median. Failover windows are measured on one more stack with a writer that
inserts a numbered row every 20 ms through the HAProxy read-write endpoint (reconnect + retry): the
window is from the last acknowledged insert before the fault to the first one after it; "lost" counts
acknowledged rows missing afterwards (must be 0 in synchronous mode). Also: a SIGKILLed chat replica
until it is back behind HAProxy. The load average is printed with the figures: on a shared 2-core
machine it moves them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from resilience.targets.base import FailoverMode
from resilience.targets.local import LocalTarget
from resilience.targets.local.teardown import postmaster_pid, stack_processes
from resilience.targets.local.writeprobe import WriteProbe

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.local_stack import busy_backend


def _row(name: str, values: list[float], unit: str = "s", extra: str = "") -> None:
    if not values:
        print(f"{name:<34} n=0 {extra}")
        return
    print(
        f"{name:<34} min {min(values):6.2f}  median {statistics.median(values):6.2f}  "
        f"max {max(values):6.2f} {unit}  (n={len(values)}) {extra}"
    )


def _state_dir(root: Path, name: str) -> Path:
    return root / name


def stack_cpu_s(target: LocalTarget) -> float:
    """CPU seconds the stack's processes used so far, their reaped children included (initdb, ...)."""
    total = 0.0
    for proc in stack_processes(target.layout.root):
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def bring_ups(root: Path, runs: int, replicas: int) -> tuple[list[float], list[float], list[float]]:
    ups: list[float] = []
    downs: list[float] = []
    cpus: list[float] = []
    for i in range(runs):
        target = LocalTarget(state_dir=_state_dir(root, f"up-{i}"), replicas=replicas)
        try:
            load = os.getloadavg()[0]
            t0 = time.monotonic()
            own0 = sum(os.times()[:4])
            target.up()
            ups.append(time.monotonic() - t0)
            cpus.append(stack_cpu_s(target) + sum(os.times()[:4]) - own0)
            print(
                f"  bring-up {i + 1}: {ups[-1]:.1f} s, {cpus[-1]:.1f} CPU s (load average before {load:.1f})",
                flush=True,
            )
        finally:
            t0 = time.monotonic()
            target.down(purge=True)
            downs.append(time.monotonic() - t0)
    return ups, downs, cpus


def failover_window(target: LocalTarget, mode: FailoverMode) -> tuple[float, int]:
    probe = WriteProbe(target.endpoints().postgres).start()
    try:
        time.sleep(1.0)
        t = time.time()
        target.failover_db(mode)
        target.wait_db_healthy(timeout=120)
        if not probe.wait_writes_after(t, timeout=60):
            raise RuntimeError(f"writes did not resume after {mode}")
        time.sleep(0.5)
    finally:
        probe.stop()
    window = probe.outage(t)
    assert window is not None
    lost = len(probe.lost())
    target.wait_ready("app=postgres", timeout=120)  # the old primary has rejoined before the next round
    return window, lost


def chat_kill_window(target: LocalTarget) -> float:
    [victim] = target.kill("app=chat-api", count=1)
    t0 = time.monotonic()
    while True:
        pod = next(p for p in target.pods("app=chat-api") if p.name == victim.name)
        if pod.ready and pod.pid != victim.pid:
            return time.monotonic() - t0
        if time.monotonic() - t0 > 60:
            raise RuntimeError(f"{victim.name} not back behind HAProxy after 60 s")
        time.sleep(0.05)


def crash_series(target: LocalTarget, mode: FailoverMode, crashes: int) -> tuple[list[float], list[float], int, int]:
    """``crashes`` primary crashes of kind ``mode`` under the writer: (write outages, rejoin times,
    rejoins as the sync replica, acknowledged writes lost)."""
    outages: list[float] = []
    rejoins: list[float] = []
    sync = 0
    probe = WriteProbe(target.endpoints().postgres).start()
    try:
        for i in range(crashes):
            target.wait_db_healthy(timeout=60)
            time.sleep(0.5)
            old = target.db_primary()
            old_pid = postmaster_pid(target.layout.pg_data(old))
            assert old_pid is not None
            with busy_backend(target, old):
                t = time.time()
                t0 = time.monotonic()
                target.failover_db(mode)
                target.wait_db_healthy(timeout=60)
                if not probe.wait_writes_after(t, timeout=60):
                    raise RuntimeError(f"{mode}: writes did not resume within 60 s of crash {i + 1}")
                node = target.wait_db_rejoined(old, old_pid, timeout=120)
                # Rejoined = streaming under a new postmaster AND a synchronous (quorum) replica again:
                # Patroni adds it to synchronous_standby_names a loop after it streams.
                deadline = t0 + 120
                while not node.sync and time.monotonic() < deadline:
                    time.sleep(0.05)
                    node = next(n for n in target.db_nodes() if n.name == old)
                rejoins.append(time.monotonic() - t0)
            sync += node.sync
            window = probe.outage(t)
            assert window is not None
            outages.append(window)
            print(
                f"  {mode.value} {i + 1}: writes back after {window:.2f} s, {old} rejoined after {rejoins[-1]:.1f} s"
                f"{' (sync)' if node.sync else ''}, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    finally:
        probe.stop()
    return outages, rejoins, sync, len(probe.lost())


def crash_benchmark(root: Path, crashes: int, kinds: list[FailoverMode], replicas: int) -> None:
    started = time.monotonic()
    target = LocalTarget(state_dir=_state_dir(root, "crashes"), replicas=replicas)
    results = {}
    try:
        target.up()
        for mode in kinds:
            results[mode] = crash_series(target, mode, crashes)
    finally:
        target.down(purge=True)
    took = time.monotonic() - started
    print(f"\n{crashes} primary crashes per kind, load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for mode, (outages, rejoins, sync, lost) in results.items():
        _row(f"{mode.value}: writes resume", outages, extra="(goal median <= 2 s)")
        _row(
            f"{mode.value}: old primary rejoins as sync",
            rejoins,
            extra=f"(goal every <= 60 s; sync {sync}/{len(rejoins)})",
        )
        ok = statistics.median(outages) <= 2 and max(rejoins) <= 60 and sync == len(rejoins) and lost == 0
        print(f"{'':<34} acknowledged writes lost: {lost} -> {'GOAL MET' if ok else 'GOAL MISSED'}")
    per_crash = took / max(1, crashes * len(kinds))
    print(f"took {took / 60:.1f} min; 50 crashes per kind would take ~{per_crash * 50 * len(kinds) / 60:.0f} min")


def measure(label: str, n: int, fn: Callable[[], float]) -> list[float]:
    out: list[float] = []
    for i in range(n):
        out.append(fn())
        print(f"  {label} {i + 1}: {out[-1]:.2f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="cold bring-ups")
    parser.add_argument("--failovers", type=int, default=3, help="failovers per mode")
    parser.add_argument("--modes", default="primary-crash,switchover,patroni-crash")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--crashes", type=int, default=0, help="only the crash series: crashes per kind")
    parser.add_argument("--kinds", default="primary-crash,postmaster-kill", help="crash kinds for --crashes")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="resilience-bench-", dir="/tmp"))
    os.chmod(root, 0o711)  # noqa: S103 - the postgres user must traverse it
    try:
        if args.crashes:
            crash_benchmark(root, args.crashes, [FailoverMode(k) for k in args.kinds.split(",") if k], args.replicas)
            return
        ups, downs, cpus = bring_ups(root, args.runs, args.replicas)
        target = LocalTarget(state_dir=_state_dir(root, "failover"), replicas=args.replicas)
        windows: dict[str, tuple[list[float], list[int]]] = {}
        try:
            target.up()
            kills = measure("chat replica back behind haproxy", args.failovers, lambda: chat_kill_window(target))
            for mode in [FailoverMode(m) for m in args.modes.split(",") if m]:
                results = [failover_window(target, mode) for _ in range(args.failovers)]
                windows[mode.value] = ([w for w, _ in results], [lost for _, lost in results])
                print(f"  {mode.value}: " + ", ".join(f"{w:.2f} s" for w, _ in results), flush=True)
        finally:
            target.down(purge=True)
        print(
            f"\nlocal stack, {args.replicas} chat replicas, load average now {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores"
        )
        _row("cold bring-up to healthy", ups, extra="(goal median <= 15 s)")
        _row("CPU used by a bring-up", cpus, unit="CPU s", extra="(all stack processes + this one)")
        _row("teardown (down --purge)", downs)
        _row("chat replica SIGKILL -> back in LB", kills)
        for mode, (ws, lost) in windows.items():
            _row(f"write outage, {mode}", ws, extra=f"lost acked rows: {sum(lost)}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
