"""How long ``write_report`` takes (raw load events included) for a short game day and a long nightly run, and sizes.

Prints one line per case: experiments, timeline rows, seconds to write every chart and report, sizes.
Run: .venv/bin/python benchmarks/report_write.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resilience.report import write_report
from tests.support.synthetic_run import DEFAULT_EXPERIMENTS, write_synthetic_run


def case(label: str, experiments: int, duration_s: float, resolution_s: float) -> None:
    base = DEFAULT_EXPERIMENTS[1]
    exps = tuple(
        replace(base, name=f"exp-{i}", offset_s=i * (duration_s + 10), duration_s=duration_s, resolution_s=resolution_s)
        for i in range(experiments)
    )
    with tempfile.TemporaryDirectory() as tmp:
        run = write_synthetic_run(Path(tmp), experiments=exps, events=True)
        began = time.perf_counter()
        written = write_report(run.path)
        elapsed = time.perf_counter() - began
        html = (run.path / "report.html").stat().st_size
        charts = sum(p.stat().st_size for p in written if p.suffix == ".png")
    rows = int(duration_s / resolution_s)
    print(
        f"{label:<34} {experiments:>3} exp x {rows:>6} rows: {elapsed:6.2f} s, "
        f"report.html {html / 1e6:5.2f} MB, charts {charts / 1e6:5.2f} MB, {len(written)} files"
    )


if __name__ == "__main__":
    case("game day (3 x 90 s @ 0.5 s)", 3, 90, 0.5)
    case("game day (8 x 5 min @ 0.1 s)", 8, 300, 0.1)
    case("nightly (12 x 10 min @ 0.1 s)", 12, 600, 0.1)
