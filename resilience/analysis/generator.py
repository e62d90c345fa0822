"""Load generator health: was the generator, not the service, the limit of a window? (pure, plus one reader)

Every Locust process (the master and each worker) samples itself once a second on the run clock
(``resilience.load.health``): its CPU in percent of one core, its open file descriptors and its event-loop
lag (how late a 1 s ``gevent.sleep`` woke up). ``judge_generator`` reads those samples over a window:

    saturated  <=>  some process was busy (CPU >= 90 %, or its event loop >= 100 ms late)
                    in more than 5 % of its samples in the window, and in at least 3 of them

(Locust's own warning threshold is 90 % CPU.) A sample also counts as busy when the process's event loop
woke ``LAG_BUSY_MS`` or more late: a process starved by its neighbours on a shared box shows little CPU of
its own, but every latency it measures then carries that delay. A saturated window, capacity step or experiment is
**inconclusive**: its latency and throughput describe the generator as much as the service, so it is
neither a pass nor a failure of the service. ``GeneratorHealth.reason`` says so with the figures.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CPU_SATURATED_PCT",
    "LAG_BUSY_MS",
    "MIN_BUSY_SAMPLES",
    "REACHED_SHARE",
    "SATURATED_SHARE",
    "Delivered",
    "GeneratorHealth",
    "GeneratorSample",
    "delivered_load",
    "judge_generator",
    "read_generator",
]

CPU_SATURATED_PCT = 90.0
"""CPU (percent of one core) at or above which a generator process counts as busy (Locust warns at 90)."""

LAG_BUSY_MS = 100.0
"""Event-loop lag at or above which a sample counts as busy whatever the CPU (the SLO's p95 is 100 ms)."""

SATURATED_SHARE = 0.05

MIN_BUSY_SAMPLES = 3
"""...and in at least this many samples (seconds): one late wake-up in a 5 s test run is not a saturated
generator (on a busy 2-core box a single 100 ms scheduling delay is common)."""
"""A process busy in more than this share of its samples makes the window inconclusive."""


@dataclass(frozen=True)
class GeneratorSample:
    """One process's reading at time ``t`` (epoch seconds)."""

    t: float
    pid: int
    role: str
    """``master``, ``worker-N`` or ``local`` (a standalone process)."""
    cpu: float
    """CPU since the previous sample, percent of one core."""
    fds: int
    lag_ms: float
    """How late the sampler's 1 s sleep woke up: the event loop's delay for every greenlet in the process."""


@dataclass(frozen=True)
class GeneratorHealth:
    """The generator over one window."""

    processes: int
    cpu_max: float | None
    fds_max: int | None
    lag_max_ms: float | None
    saturated: bool
    busy_share: float | None
    """The largest share of any one process's samples that were busy (CPU >= 90 % or loop lag >= 100 ms)."""
    busiest: str | None = None
    """That process (``worker-2 (pid 123)``)."""

    @property
    def reason(self) -> str:
        """Why the window is inconclusive (empty when it is not)."""
        if not self.saturated:
            return ""
        share = self.busy_share or 0.0
        return (
            f"load generator saturated: {self.busiest} busy (CPU >= {CPU_SATURATED_PCT:g} % or event loop "
            f">= {LAG_BUSY_MS:g} ms late) in {share:.0%} of the window (limit {SATURATED_SHARE:.0%}; CPU max "
            f"{self.cpu_max:.0f} %, event-loop lag max "
            f"{self.lag_max_ms or 0:.0f} ms): the figures measure the generator as much as the service"
        )

    def to_json(self) -> dict[str, Any]:
        """The run document's ``load.generator`` (and a capacity step's)."""
        return {
            "processes": self.processes,
            "cpu_max": self.cpu_max,
            "fds_max": self.fds_max,
            "lag_max_ms": self.lag_max_ms,
            "saturated": self.saturated,
            "busy_share": self.busy_share,
            "reason": self.reason or None,
        }


def read_generator(folder: Path) -> list[GeneratorSample]:
    """Every sample in ``folder/*.jsonl`` (one file per process), sorted by time; a torn last line is skipped."""
    samples: list[GeneratorSample] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for line in path.read_text(errors="replace").splitlines():
            try:
                raw = json.loads(line)
                samples.append(
                    GeneratorSample(
                        float(raw["t"]),
                        int(raw["pid"]),
                        str(raw["role"]),
                        float(raw["cpu"]),
                        int(raw["fds"]),
                        float(raw["lag_ms"]),
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue
    return sorted(samples, key=lambda s: s.t)


def judge_generator(
    samples: Iterable[GeneratorSample],
    start: float = -math.inf,
    end: float = math.inf,
    *,
    cpu_pct: float = CPU_SATURATED_PCT,
    lag_ms: float = LAG_BUSY_MS,
    share: float = SATURATED_SHARE,
) -> GeneratorHealth:
    """The generator's health over ``[start, end]``: saturated when one process was busy (CPU >= ``cpu_pct``
    or loop lag >= ``lag_ms``) in more than ``share`` of its samples there. No samples: not saturated,
    figures None (not measured)."""
    by_proc: dict[tuple[str, int], list[GeneratorSample]] = defaultdict(list)
    for s in samples:
        if start <= s.t <= end:
            by_proc[(s.role, s.pid)].append(s)
    if not by_proc:
        return GeneratorHealth(0, None, None, None, False, None)
    busy_counts = {key: sum(s.cpu >= cpu_pct or s.lag_ms >= lag_ms for s in got) for key, got in by_proc.items()}
    shares = {key: busy_counts[key] / len(got) for key, got in by_proc.items()}
    (role, pid), busy = max(shares.items(), key=lambda kv: kv[1])
    saturated = any(shares[k] > share and busy_counts[k] >= MIN_BUSY_SAMPLES for k in by_proc)
    every = [s for got in by_proc.values() for s in got]
    return GeneratorHealth(
        processes=len(by_proc),
        cpu_max=round(max(s.cpu for s in every), 1),
        fds_max=max(s.fds for s in every),
        lag_max_ms=round(max(s.lag_ms for s in every), 1),
        saturated=saturated,
        busy_share=round(busy, 4),
        busiest=f"{role} (pid {pid})",
    )


REACHED_SHARE = 0.99
"""A load reached its users when this share of them had a WebSocket open at once (the connect SLO's 99 %)."""


@dataclass(frozen=True)
class Delivered:
    """The load delivered against the load asked for."""

    users: int
    users_peak: int
    messages_per_s: float

    @property
    def shortfall(self) -> str:
        """Why the load asked for was not delivered (empty when it was)."""
        if self.users_peak >= REACHED_SHARE * self.users:
            return ""
        return (
            f"load not delivered: {self.users_peak} WebSocket users open at most, {self.users} asked "
            f"({self.users_peak / self.users:.0%}; needs >= {REACHED_SHARE:.0%})"
        )


def delivered_load(summary: dict[str, Any], users: int) -> Delivered:
    """The timeline summary's peak open WebSockets and acknowledged messages per second against ``users``."""
    span = float(summary.get("span_s") or 0.0)
    acked = int(summary.get("messages_acked") or 0)
    return Delivered(users, int(summary.get("ws_open_peak") or 0), round(acked / span, 1) if span else 0.0)
