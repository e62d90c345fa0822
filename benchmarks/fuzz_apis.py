"""The 10,000-inputs-per-surface fuzz run of issue 15: the chat REST API, the chat WebSocket protocol, the
fault proxy's API, and the scenario/experiment files.

Runs the same Hypothesis fuzzers as the test suite (tests/integration/test_fuzz_apis.py and
tests/unit/test_fuzz_files.py, which start their own PostgreSQL and Redis) with ``RESILIENCE_FUZZ_EXAMPLES``
set, so each fuzzer draws that many inputs instead of the suite's few hundred. A fuzzer fails on any 500,
unhandled error (traceback) or broken invariant; pytest-timeout turns a hang into a failure. Prints the
cases per surface, failures, wall time and the load average.

    .venv/bin/python benchmarks/fuzz_apis.py            # 10,000 per fuzzer (about 10-15 min on 2 cores)
    .venv/bin/python benchmarks/fuzz_apis.py --examples 500
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/integration/test_fuzz_apis.py", "tests/unit/test_fuzz_files.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000, help="inputs per fuzzer (default 10,000)")
    parser.add_argument("--timeout", type=int, default=3600, help="pytest-timeout per test, seconds")
    args = parser.parse_args()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    env = {**os.environ, "RESILIENCE_FUZZ_EXAMPLES": str(args.examples)}
    argv = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", f"--timeout={args.timeout}"]
    started = time.monotonic()
    proc = subprocess.run([*argv, *TESTS], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    out = proc.stdout + proc.stderr
    for line in out.splitlines():
        if line.startswith("fuzz cases:") or re.match(r"^\d+ (passed|failed)", line) or "passed" in line[-40:]:
            print(line)
    failed = [line for line in out.splitlines() if line.startswith(("FAILED", "ERROR"))]
    for line in failed:
        print(line)
    print(f"examples per fuzzer: {args.examples}; wall time {wall:.0f} s; pytest exit {proc.returncode}")
    print(f"load average before: {' '.join(load_before)}; after: {' '.join(load_after)} (nproc {os.cpu_count()})")
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
