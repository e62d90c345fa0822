"""Benchmark the capacity search: the knee per condition, how many steps and how long it took to find it.

    flock /work/coord/heavy.lock .venv/bin/python benchmarks/capacity_search.py \
        [--plan scenarios/capacity.yaml] [--only healthy --only db-failover] [--repeats 1] [--budget 600]
        [--p95-ms 30]

Brings a local target up in its own temp state dir, runs ``resilience capacity`` on the plan (the search:
x2 from 10 users until the SLO clearly breaks, then bisection to 5 %), tears the target down, and prints
per condition and repeat: the users of every step in the order measured (``!`` inconclusive, ``x``
failing), the knee or the bound with the achieved resolution, why the search stopped, and for a failover
condition the time to recover at each load; then the knee over repeats as the report states it, the
measuring time, the whole duration and the load average before and after (the box is shared: the figures
move with it). Exit 0 when every condition has a result.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resilience.capacity.result import condition_line, read_capacity


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _step(s: object) -> str:
    users = getattr(s, "users", 0)
    mark = "!" if not getattr(s, "conclusive", True) else ("x" if getattr(s, "verdict", "ok") != "ok" else "")
    return f"{users}{mark}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan", type=Path, default=ROOT / "scenarios" / "capacity.yaml")
    ap.add_argument("--only", action="append", default=None, help="condition (repeatable; default: two)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--budget", type=float, default=600.0, help="seconds of measuring")
    ap.add_argument("--p95-ms", type=float, default=None, help="override the plan's p95 SLO (a copy of the plan)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    only = args.only or ["healthy", "db-failover"]
    out = args.out or Path(tempfile.mkdtemp(prefix="capacity-search-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.p95_ms is not None:  # e.g. a tighter SLO, so the knee lies where this box's generator is healthy
        data = yaml.safe_load(args.plan.read_text())
        data["slo"] = {**data.get("slo", {}), "p95_ms": args.p95_ms}
        args.plan = out / f"plan-p95-{args.p95_ms:g}ms.yaml"
        args.plan.write_text(yaml.safe_dump(data, sort_keys=False))
    state = Path(tempfile.mkdtemp(prefix="capacity-search-state-"))
    state.chmod(0o755)  # the database runs as user postgres: it must reach its data dir
    print(f"load average before: {_loadavg()}  (2 cores)", flush=True)
    argv = [sys.executable, "-m", "resilience", "capacity", str(args.plan), "--state-dir", str(state)]
    argv += ["--results-dir", str(out), "--repeats", str(args.repeats), "--budget", f"{args.budget:g}", "--teardown"]
    for name in only:
        argv += ["--only", name]
    print("$", " ".join(argv), flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(argv, check=False, cwd=ROOT)
    took = time.monotonic() - t0
    shutil.rmtree(state, ignore_errors=True)  # torn down (--teardown): nothing of the stack runs from it
    print(f"load average after: {_loadavg()}")
    runs = sorted(p for p in out.iterdir() if (p / "capacity.json").is_file())
    if not runs:
        print(f"no capacity.json under {out} (exit {proc.returncode})")
        return 1
    result = read_capacity(runs[-1])
    print(f"\nrun {result.run_id}: status {result.status}, measuring {result.ended - result.started:.0f} s")
    for cond in result.conditions:
        print(f"\n{cond.name}: {condition_line(cond)}")
        for rep in cond.repeats:
            steps = " ".join(_step(s) for s in rep.steps)
            res = f", resolution {rep.resolution:.1%}" if rep.resolution is not None else ""
            print(
                f"  repeat {rep.repeat}: {len(rep.steps)} steps [{steps}] -> knee_users {rep.knee_users}"
                f" break {rep.break_users}{res}; stopped: {rep.stop_reason or 'ladder done'}"
            )
            for s in rep.steps:
                gen = s.generator or {}
                print(
                    f"    {s.users:>6} users p95 {s.p95_ms if s.p95_ms is None else round(s.p95_ms, 1)} ms"
                    f" errors {s.error_rate:.2%} {s.verdict.value}"
                    + (f" recovered {s.recovery_s} s" if s.recovery_s is not None else "")
                    + (f" generator cpu_max {gen.get('cpu_max')} % lag_max {gen.get('lag_max_ms')} ms" if gen else "")
                )
    print(f"\nwhole benchmark {took:.0f} s (bring-up, measuring, teardown); results {runs[-1]}")
    print(json.dumps({c.name: c.knee.model_dump() if c.knee else None for c in result.conditions}))
    return 0 if all(c.knee is not None for c in result.conditions) else 1


if __name__ == "__main__":
    sys.exit(main())
