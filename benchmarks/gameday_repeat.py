"""Repeatability: the game day N times in a row on one fresh stack; verdicts, flips and recovery spread.

    flock -o /work/coord/heavy.lock .venv/bin/python benchmarks/gameday_repeat.py [--runs 3] [--scenario S]

About 8 minutes per game day plus ~30 s of bring-up (three: ~25 min). A fresh local stack in a temp state
dir, stopped at the end; the results stay in /tmp/resilience-repeat-results-*. Before and after each run it
prints ``/proc/loadavg``; after each, the verdict per experiment with its alerts (seconds from the fault to
firing / the time it had) and bad-release-rollback's post-rollback figures (benchmarks/rollback_noise.py); at
the end ``resilience trend`` over these runs: passed N of M per experiment (a flip is named) and recovery
min / median / max. Goal: every experiment passes in every run. ``-o``: the stack started
under the lock must not inherit it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> int:
    return subprocess.run([sys.executable, "-m", "resilience", *args], cwd=ROOT, check=False).returncode


def _loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


def _alerts(alerts: list[dict[str, Any]]) -> str:
    """``Name fired/within s`` per expected alert (``missing``: it did not fire), then the unexpected ones."""
    parts = []
    for a in alerts:
        if a["expected"]:
            fired = "missing" if a["fired_s"] is None else f"{a['fired_s']:.1f}"
            parts.append(f"{a['name']} {fired}/{a['within_s']:.0f} s")
    others = [str(a["name"]) for a in alerts if not a["expected"]]
    return "; ".join(parts) + (f"; not expected: {', '.join(others)}" if others else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", default="scenarios/gameday.yaml")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="resilience-repeat-", dir="/tmp"))
    os.chmod(base, 0o711)  # noqa: S103 - postgres must traverse it
    state = base / "state"
    results = Path(tempfile.mkdtemp(prefix="resilience-repeat-results-", dir="/tmp"))  # kept: run.json per run
    common = ["--state-dir", str(state), "--results-dir", str(results)]
    try:
        for i in range(1, args.runs + 1):
            print(f"run {i}: loadavg before {_loadavg()}", flush=True)
            rc = _cli("run", args.scenario, *common)
            print(f"run {i}: exit {rc}, loadavg after {_loadavg()}", flush=True)
            run_dir = sorted(p for p in results.iterdir() if (p / "run.json").is_file())[-1]
            doc = json.loads((run_dir / "run.json").read_text())
            for e in doc.get("experiments", []):
                print(f"  {e['name']:22} {e['verdict']:8} recovery {e.get('recovery_s')} s  {'; '.join(e['reasons'])}")
                if e.get("alerts"):
                    print(f"  {'':22} alerts: {_alerts(e['alerts'])}")
            if (run_dir / "bad-release-rollback").is_dir():
                subprocess.run(
                    [sys.executable, str(ROOT / "benchmarks" / "rollback_noise.py"), str(run_dir)], check=False
                )
        _cli("trend", str(results), "--last", str(args.runs), "-o", str(results / "trend"))
    finally:
        _cli("down", "--state-dir", str(state), "--purge")
        shutil.rmtree(base, ignore_errors=True)
        print(f"results (run.json, reports, trend) kept in {results}", flush=True)


if __name__ == "__main__":
    main()
