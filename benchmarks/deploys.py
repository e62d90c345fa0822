"""Deploy figures on this machine, under the game day's load (40 users): 10 rolling and 10 blue-green deploys
of the good release (failed requests each, worst window's p95 and windows over the SLO, time to switch), 3
automated rollbacks of ``bad-errors`` (time from the first failed response to all traffic on the good release,
failed requests served by the bad release).

    flock /work/coord/heavy.lock .venv/bin/python benchmarks/deploys.py      # ~12 minutes

Runs ``resilience run benchmarks/deploys.yaml`` on the local stack of this checkout (brought up if needed,
left up), then prints the figures from its run.json with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" 1")[0].strip()


def _row(d: dict[str, Any]) -> str:
    switch = d.get("switched_at")
    ttr = d.get("time_to_rollback_s")
    return (
        f"  {d['strategy']:<10} {d['release']:<10} {d['outcome']:<11} failed={d['failed_requests']:<4} "
        f"switch={(switch - d['started']) if switch else float('nan'):5.1f}s "
        f"duration={d['duration_s']:5.1f}s rollback={ttr if ttr is not None else float('nan'):5.1f}s "
        f"peak_p95={d.get('peak_p95_ms') or float('nan'):6.0f}ms slo_broken={len(d.get('slo_broken') or [])}"
    )


def main() -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    before = _loadavg()
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "resilience", "run", "benchmarks/deploys.yaml"]
    rc = subprocess.run(cmd, cwd=ROOT, check=False).returncode
    wall = time.monotonic() - t0
    after = _loadavg()
    run_dir = sorted((ROOT / "results").glob("*-deploys-bench-*"))[-1]
    run = json.loads((run_dir / "run.json").read_text())
    print(f"\nrun {run_dir.name}: {run['verdict']} (exit {rc}) in {wall:.0f} s")
    print(f"load average before: {before}   after: {after}")
    for e in run["experiments"]:
        deploys = e.get("deploys") or ([e["deploy"]] if e.get("deploy") else [])
        print(f"{e['name']}: {e['verdict']} {'; '.join(e.get('reasons') or [])}")
        for d in deploys:
            print(_row(d))
        good = [d for d in deploys if d["outcome"] == "completed"]
        if good:
            clean = sum(d["failed_requests"] == 0 for d in good)
            kept = sum(not d.get("slo_broken") for d in good)
            switch = sorted(d["switched_at"] - d["started"] for d in good if d.get("switched_at"))
            print(
                f"  => {clean}/{len(good)} deploys with 0 failed requests, {kept}/{len(good)} with the SLO kept in"
                f" every window; time to switch max {max(switch):.1f} s"
            )
    return rc


if __name__ == "__main__":
    sys.exit(main())
