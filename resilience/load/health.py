"""Each Locust process samples its own health once a second (runs under gevent, in locust processes only).

One line of JSON per second to ``<generator_dir>/<role>-<pid>.jsonl``: ``t`` (epoch s, the run clock),
``cpu`` (percent of one core since the last sample, psutil), ``fds`` (open descriptors), ``lag_ms`` (how late
the 1 s sleep woke: every greenlet of the process waited that long). Read and judged by
``resilience.analysis.generator``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import gevent
import psutil

__all__ = ["INTERVAL_S", "start_sampler"]

INTERVAL_S = 1.0


def _sample_forever(path: Path, role: str) -> None:
    proc = psutil.Process()
    proc.cpu_percent(None)  # the first call only starts the clock
    with path.open("a", buffering=1) as out:
        while True:
            t0 = time.monotonic()
            gevent.sleep(INTERVAL_S)
            lag_ms = max(0.0, (time.monotonic() - t0 - INTERVAL_S) * 1000)
            try:
                cpu, fds = proc.cpu_percent(None), proc.num_fds()
            except psutil.Error:
                return
            line = {"t": round(time.time(), 3), "pid": proc.pid, "role": role, "cpu": cpu, "fds": fds}
            out.write(json.dumps({**line, "lag_ms": round(lag_ms, 1)}) + "\n")


def start_sampler(folder: Path, role: str) -> gevent.Greenlet:
    """Start sampling this process into ``folder`` (created) under ``role``; returns the greenlet."""
    folder.mkdir(parents=True, exist_ok=True)
    return gevent.spawn(_sample_forever, folder / f"{role}-{os.getpid()}.jsonl", role)
