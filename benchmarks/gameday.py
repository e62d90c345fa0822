"""Game-day figures on this machine: smoke wall time incl. bring-up, recovery per experiment, abort latency,
timeline resolution.

Runs through the CLI on a fresh local stack in a temp state dir (stopped at the end):

    .venv/bin/python benchmarks/gameday.py [--nightly]

1. ``resilience run scenarios/smoke.yaml`` from cold (bring-up included): wall time, and per experiment
   time to detect, recovery time against its target, peak p95;
2. ``tests/e2e/data/safeguard.yaml``: abort latency from the safeguard breach to the fault reverted, and the
   fault window as the ledger recorded it;
3. with ``--nightly``: every experiment of ``scenarios/nightly.yaml`` on the warm stack.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, timeout: float = 1800) -> tuple[int, float]:
    t0 = time.monotonic()
    rc = subprocess.run([sys.executable, "-m", "resilience", *args], cwd=ROOT, timeout=timeout, check=False).returncode
    return rc, time.monotonic() - t0


def _last(results: Path, name: str) -> dict[str, Any]:
    run_dir = sorted(p for p in results.iterdir() if f"-{name}-" in p.name)[-1]
    run: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    return run


def _table(run: dict[str, Any]) -> None:
    print("| experiment | verdict | detect s | recovery s | target s | peak p95 ms | error budget used | lost |")
    print("|---|---|---|---|---|---|---|---|")
    for e in run["experiments"]:
        integrity = e.get("integrity") or {}
        print(
            f"| {e['name']} | {e['verdict']} | {e['detect_s']} | {e['recovery_s']} | {e['recovery_target_s']} | "
            f"{e['peak_p95_ms']} | {(e.get('error_budget') or {}).get('share')} | {integrity.get('lost')} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nightly", action="store_true", help="also run every experiment of scenarios/nightly.yaml")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="resilience-bench-", dir="/tmp"))
    os.chmod(base, 0o711)  # noqa: S103 - postgres must traverse it
    state, results = base / "state", base / "results"
    common = ["--state-dir", str(state), "--results-dir", str(results)]
    try:
        rc, wall = _cli("run", "scenarios/smoke.yaml", *common)
        smoke = _last(results, "smoke")
        print(f"\nsmoke: exit {rc}, verdict {smoke['verdict']}, wall time incl. bring-up {wall:.1f} s (goal <= 180 s)")
        _table(smoke)
        rc, wall = _cli("run", "tests/e2e/data/safeguard.yaml", *common)
        guarded = _last(results, "safeguard")["experiments"][0]
        trip = guarded.get("safeguard") or {}
        print(f"\nsafeguard: exit {rc}, verdict {guarded['verdict']}, wall {wall:.1f} s")
        if trip:
            print(
                f"abort latency: breach -> faults reverted {trip['reverted_at'] - trip['breach_at']:.3f} s "
                f"(detected -> reverted {trip['reverted_at'] - trip['detected_at']:.3f} s; goal <= 1 s); "
                f"fault window {guarded['fault_end'] - guarded['fault_start']:.2f} s "
                f"for a {trip['limit']['for_s']} s limit"
            )
        run_dir = sorted(p for p in results.iterdir() if "-smoke-" in p.name)[-1]
        csv_lines = (run_dir / "pod-kill" / "timeline.csv").read_text().splitlines()[1:3]
        step = float(csv_lines[1].split(",")[0]) - float(csv_lines[0].split(",")[0])
        print(
            f"\ntimeline resolution: {step:.3f} s per row (CSV); SLO judged on 1 s windows; safeguard on 0.25 s buckets"
        )
        if args.nightly:
            rc, wall = _cli("run", "scenarios/nightly.yaml", *common)
            print(f"\nnightly: exit {rc}, wall {wall:.1f} s")
            _table(_last(results, "nightly"))
    finally:
        _cli("down", "--state-dir", str(state), "--purge", timeout=300)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
