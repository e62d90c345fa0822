"""Abort latency: safeguard breach -> every fault reverted (goal <= 1 s).

    .venv/bin/python benchmarks/safety_abort_latency.py [--trials 10]

A real fault proxy (its own process) carries a latency toxic and an outage, applied through the harness's
fault ledger; a load stand-in writes request events whose error rate jumps to 100 %; the safeguards
control's watcher (the real ``Guard``) trips and reverts. Per trial it reports, on the wall clock:
breach (error rate above the limit for ``for_s``) -> reverted (the ledger's revert returned), and breach
-> seen clean by an independent observer polling the proxy API. Side by side: the load's events flushed
every 1 s (the load generator's setting today) and every 0.1 s.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resilience.context import RunContext, share_target
from resilience.controls.safeguards import Guard
from resilience.faults import network
from resilience.faults.ledger import fault_ledger
from resilience.load.events import EventWriter, Kind
from resilience.targets.base import Endpoints


def start_proxy() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "resilience.netfault", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise SystemExit(f"fault proxy did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.rsplit(':', 1)[1])}"


class StandIn:
    """The network face of a target: the proxy's API URL and a state dir for the ledger."""

    name = "local"

    def __init__(self, api: str, state_dir: Path) -> None:
        self.api, self.state_dir = api, state_dir

    def endpoints(self) -> Endpoints:
        return Endpoints(chat="", toxiproxy=self.api, postgres="", redis="")

    def proxies(self) -> dict[str, str]:
        return {"postgres": "postgres", "redis": "redis"}


def _clean(api: str) -> bool:
    proxies = requests.get(f"{api}/proxies", timeout=5).json()
    return all(p["enabled"] and not p["toxics"] for p in proxies.values())


def _load(events: Path, flush_s: float, fail_from: float, stop: threading.Event) -> None:
    writer = EventWriter(events, flush_s=flush_s, name=f"events-bench-{time.monotonic_ns()}.bin")
    while not stop.is_set():
        now = time.time()
        writer.record(Kind.REST_SEND, ok=now < fail_from, status=200 if now < fail_from else 503, value=5.0)
        time.sleep(0.005)
    writer.flush()


def trial(api: str, work: Path, *, flush_s: float, for_s: float, poll_s: float) -> dict[str, Any]:
    config = {"target": "local", "state_dir": str(work)}
    share_target(RunContext.of(config), StandIn(api, work))  # type: ignore[arg-type]
    network.add_latency("postgres", latency_ms=50, configuration=config)
    network.take_down("redis", configuration=config)
    events = work / f"events-{time.monotonic_ns()}"
    stop = threading.Event()
    fail_from = time.time() + 1.5
    loader = threading.Thread(target=_load, args=(events, flush_s, fail_from, stop), daemon=True)
    loader.start()
    guard = Guard(events, work / "out", error_rate=0.5, for_s=for_s, poll_s=poll_s)
    guard.start()
    seen_clean = None
    deadline = time.time() + 30
    while time.time() < deadline:
        if guard.tripped is not None and _clean(api):
            seen_clean = time.time()
            break
        time.sleep(0.005)
    stop.set()
    guard.stopped.set()
    guard.join(5)
    loader.join(5)
    tripped = guard.tripped or {}
    fault_ledger().revert_all()
    breach = fail_from + for_s  # the limit is breached once errors have lasted for_s
    return {
        "breach_to_reverted": tripped.get("reverted_at", float("nan")) - breach,
        "detected_to_reverted": tripped.get("reverted_at", float("nan")) - tripped.get("detected_at", 0.0),
        "breach_to_seen_clean": (seen_clean or float("nan")) - breach,
        "reverted": tripped.get("reverted", []),
    }


def _summary(values: list[float]) -> str:
    ok = [v for v in values if not math.isnan(v)]
    if not ok:
        return "n/a"
    return f"min {min(ok) * 1000:6.0f}  median {statistics.median(ok) * 1000:6.0f}  max {max(ok) * 1000:6.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--for-s", type=float, default=1.0)
    args = parser.parse_args()
    signal.signal(signal.SIGUSR1, lambda *_: None)  # the guard interrupts its process: chaoslib's job, not ours
    proc, api = start_proxy()
    try:
        for name in ("postgres", "redis"):
            requests.post(
                f"{api}/proxies", json={"name": name, "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"}, timeout=5
            ).raise_for_status()
        with tempfile.TemporaryDirectory(prefix="abort-latency-") as d:
            print(
                f"abort latency, {args.trials} trials per setting, safeguard: error rate > 50 % for "
                f"{args.for_s:g} s, watcher polls every 0.2 s; goal breach -> reverted <= 1000 ms"
            )
            for flush_s in (1.0, 0.1):
                rows = [trial(api, Path(d), flush_s=flush_s, for_s=args.for_s, poll_s=0.2) for _ in range(args.trials)]
                assert all(
                    sorted(r["reverted"]) == ["down:redis", "toxic:postgres:resilience_latency_downstream"]
                    for r in rows
                ), rows
                print(f"\nload events flushed every {flush_s:g} s:")
                for key in ("breach_to_reverted", "detected_to_reverted", "breach_to_seen_clean"):
                    print(f"  {key:<22} {_summary([r[key] for r in rows])}")
                met = sum(r["breach_to_reverted"] <= 1.0 for r in rows)
                print(f"  goal met (breach -> reverted <= 1 s): {met}/{len(rows)}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    print(f"\nload average: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
