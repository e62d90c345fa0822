"""How noisy the chat service is after bad-release-rollback's rollback, from a game day's raw events.

    .venv/bin/python benchmarks/rollback_noise.py [RUN_DIR ...]     (default: the newest game day in results/)

No load of its own (it reads what a game day recorded, a second or two per run). Prints, per run: the load
average recorded nowhere else is not known, so run it right after the game day and quote that game day's
load. Windows are by request start (the verdict's attribution), relative to the end of the rollback:
requests, p50 and p95 per request kind, and how many 1 s windows had p95 above 100 ms; the reference is the
20 s before the bad release (the pause and steady wait before the experiment).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from resilience.load.events import REQUEST_KINDS, Kind, read_event_array

SLO_P95_MS = 100.0
EXPERIMENT = "bad-release-rollback"
WINDOWS = ((-20.0, 0.0), (0.0, 10.0), (10.0, 20.0), (20.0, 30.0), (30.0, 40.0), (40.0, 50.0), (50.0, 60.0))


def _rollback_end(exp_dir: Path) -> tuple[float, float]:
    """(fault start, end of the roll-back action) on the run clock."""
    start = end = None
    if not (exp_dir / "markers.jsonl").is_file():
        raise SystemExit(f"{exp_dir}: not run (no markers.jsonl)")
    for line in (exp_dir / "markers.jsonl").read_text().splitlines():
        m = json.loads(line)
        if m.get("event") == "activity-start" and m.get("name") == "roll-out-bad-release":
            start = m["t"]
        if m.get("event") == "activity-end" and m.get("name") == "roll-back" and end is None:
            end = m["t"]
    if start is None or end is None:
        raise SystemExit(f"{exp_dir}: no roll-out / roll-back markers")
    return float(start), float(end)


def _fmt(values: np.ndarray) -> str:
    if values.size == 0:
        return "      -/-     "
    return f"{np.percentile(values, 50):5.1f}/{np.percentile(values, 95):6.1f}"


def report(run_dir: Path) -> None:
    """Print the rollback-noise table of one run folder."""
    exp_dir = run_dir / EXPERIMENT
    fault_start, rb_end = _rollback_end(exp_dir)
    ev = read_event_array(run_dir / "load" / "events", strict=False)
    req = ev[np.isin(ev["kind"], [int(k) for k in REQUEST_KINDS])]
    start = req["t"] - req["value"] / 1000.0
    print(f"{run_dir.name}: rollout at {fault_start:.1f}, rollback done {rb_end - fault_start:.1f} s later")
    kinds = (Kind.ACK, Kind.REST_SEND, Kind.REST_HISTORY)
    head = " | ".join(f"{k.name.lower():>13}" for k in kinds)
    print(f"  window after rollback | requests | {head} | 1 s windows p95>100ms | errors")
    for lo, hi in WINDOWS:
        base = fault_start if lo < 0 else rb_end
        sel = (start >= base + lo) & (start < base + hi)
        part, part_start = req[sel], start[sel]
        cells = " | ".join(_fmt(part["value"][part["kind"] == int(k)].astype(float)) for k in kinds)
        slow = 0
        seconds = int(hi - lo)
        for s in range(seconds):
            w = part["value"][(part_start >= base + lo + s) & (part_start < base + lo + s + 1)]
            slow += bool(w.size and np.percentile(w, 95) > SLO_P95_MS)
        label = f"{lo:+5.0f}..{hi:+4.0f} s" + (" (before fault)" if lo < 0 else "")
        errors = int((part["ok"] == 0).sum())
        print(f"  {label:>21} | {len(part):8d} | {cells} | {slow:>2} of {seconds:<2}               | {errors}")


def main() -> None:
    dirs = [Path(a) for a in sys.argv[1:]]
    if not dirs:
        runs = sorted(p for p in Path("results").glob("*gameday*") if (p / EXPERIMENT / "markers.jsonl").is_file())
        if not runs:
            raise SystemExit("no game day with bad-release-rollback under results/")
        dirs = [runs[-1]]
    for d in dirs:
        report(d)


if __name__ == "__main__":
    main()
