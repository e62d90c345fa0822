"""A realistic run folder with known answers, written without any server: for report and chart tests.

Three experiments, each telling a different story:
- ``pod-kill``: passed; recovers in 4.5 s of a 30 s target; integrity clean.
- ``db-failover``: failed; recovers in 42 s (target 30 s), 2 acknowledged messages lost; carries the
  failover ``phases``.
- ``redis-outage``: interrupted mid-fault: no ``hypothesis.after``, no recovery, no integrity, no timeline.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from resilience.load.events import MAGIC, RECORD, Kind

__all__ = ["SyntheticExperiment", "SyntheticRun", "write_synthetic_run"]

RESOLUTION_S = 0.5
STARTED = 1_790_000_000.0


@dataclass(frozen=True)
class SyntheticExperiment:
    """What a synthetic experiment is built from, so tests can compare charts against it."""

    name: str
    verdict: str
    offset_s: float
    fault_after_s: float
    fault_len_s: float
    detect_s: float | None
    recovery_s: float | None
    recovery_target_s: float
    lost: int | None
    duration_s: float = 90.0
    timeline: bool = True
    hypothesis_after: bool | None = True
    phases: tuple[tuple[str, float], ...] = ()
    p95_during_ms: float = 300.0
    p95_steady_ms: float = 40.0
    reasons: tuple[str, ...] = ()
    resolution_s: float = RESOLUTION_S

    @property
    def fault_start(self) -> float:
        return STARTED + self.offset_s + self.fault_after_s

    @property
    def fault_end(self) -> float:
        return self.fault_start + self.fault_len_s


@dataclass(frozen=True)
class SyntheticRun:
    """The folder written and the experiments it holds."""

    path: Path
    run_id: str
    experiments: tuple[SyntheticExperiment, ...]
    extra: dict[str, Any] = field(default_factory=dict)


DEFAULT_EXPERIMENTS = (
    SyntheticExperiment("pod-kill", "passed", 0, 20, 3, detect_s=1.2, recovery_s=4.5, recovery_target_s=30, lost=0),
    SyntheticExperiment(
        "db-failover",
        "failed",
        100,
        20,
        15,
        detect_s=3.0,
        recovery_s=42.0,
        recovery_target_s=30,
        lost=2,
        hypothesis_after=False,
        p95_during_ms=900.0,
        reasons=("recovery 42.0 s over the 30 s target", "2 acknowledged messages lost"),
        phases=(
            ("fault", 0.0),
            ("detect", 3.0),
            ("new leader", 9.5),
            ("routed", 12.0),
            ("clients reconnected", 18.0),
            ("backlog delivered", 24.0),
        ),
    ),
    SyntheticExperiment(
        "redis-outage",
        "interrupted",
        200,
        20,
        30,
        detect_s=2.0,
        recovery_s=None,
        recovery_target_s=20,
        lost=None,
        duration_s=35,
        timeline=False,
        hypothesis_after=None,
    ),
)


def _timeline_rows(exp: SyntheticExperiment, rng: np.random.Generator) -> list[dict[str, float | str]]:
    t0 = STARTED + exp.offset_s
    n = int(exp.duration_s / exp.resolution_s)
    recovered = exp.fault_start + (exp.recovery_s if exp.recovery_s is not None else exp.duration_s)
    rows: list[dict[str, float | str]] = []
    for i in range(n):
        t = t0 + i * exp.resolution_s
        hurt = exp.fault_start <= t < recovered
        faulty = exp.fault_start <= t < exp.fault_end
        throughput = (120.0 if hurt else 200.0) + rng.normal(0, 5)
        error_rate = (0.05 if faulty else 0.004 if hurt else 0.0002) + abs(rng.normal(0, 0.0001))
        p50 = (80.0 if hurt else 12.0) + abs(rng.normal(0, 1))
        p95 = (exp.p95_during_ms if hurt else exp.p95_steady_ms) + abs(rng.normal(0, 4))
        p99 = p95 * 1.6
        ws_open = 60 + min(40, max(0.0, t - exp.fault_end) * 4) if faulty or hurt else 100
        row: dict[str, float | str] = {
            "t": round(t, 3),
            "throughput": round(throughput, 2),
            "error_rate": round(error_rate, 5),
            "p50_ms": round(p50, 2),
            "p95_ms": round(p95, 2),
            "p99_ms": round(p99, 2),
            "ws_open": ws_open,
            "connect_success": 1.0,
            "reconnects": 0,
        }
        if i == 5:  # an interval without requests: empty latency cells
            row.update(p50_ms="", p95_ms="", p99_ms="")
        rows.append(row)
    return rows


def _event_records(exp: SyntheticExperiment) -> list[bytes]:
    """Per 0.5 s: 4 acked sends (20 ms before and after the impact window, 800 ms inside it), one failed send
    and one delivery (both must be ignored by latency readers)."""
    recovered = exp.fault_start + (exp.recovery_s if exp.recovery_s is not None else exp.duration_s)
    end = max(exp.fault_end, recovered)
    t0 = STARTED + exp.offset_s
    records = []
    for i in range(int(exp.duration_s / RESOLUTION_S)):
        t = t0 + i * RESOLUTION_S
        latency = 800.0 if exp.fault_start <= t < end else 20.0
        records += [RECORD.pack(t + 0.01 * k, Kind.ACK, 1, 0, latency) for k in range(4)]
        records.append(RECORD.pack(t + 0.2, Kind.REST_SEND, 0, 503, 5000.0))
        records.append(RECORD.pack(t + 0.3, Kind.DELIVERY, 1, 0, 9999.0))
    return records


def _experiment_json(exp: SyntheticExperiment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": exp.name,
        "file": f"experiments/{exp.name}.yaml",
        "dir": exp.name,
        "verdict": exp.verdict,
        "hypothesis": {"before": True}
        if exp.hypothesis_after is None
        else {"before": True, "after": exp.hypothesis_after},
        "fault_start": exp.fault_start,
        "fault_end": exp.fault_end,
        "started": STARTED + exp.offset_s,
        "ended": STARTED + exp.offset_s + exp.duration_s,
        "detect_s": exp.detect_s,
        "recovery_s": exp.recovery_s,
        "recovery_target_s": exp.recovery_target_s,
        "peak_p95_ms": exp.p95_during_ms + 12.5,
        "error_rate": 0.0123,
        "slo": {
            "p95_ms": 100.0,
            "p99_ms": 250.0,
            "error_rate": 0.001,
            "ws_connect_success": 0.99,
            "throughput_min": 150.0,
        },
        "recovery": {
            "detected_at": None if exp.detect_s is None else exp.fault_start + exp.detect_s,
            "recovered_at": None if exp.recovery_s is None else exp.fault_start + exp.recovery_s,
            "stabilisation_s": 5.0,
        },
        "error_budget": {
            "availability": 0.999,
            "period_days": 30.0,
            "limit": None,
            "requests": 6000,
            "failed": 12,
            "rate_rps": 40.0,
            "outage_s": 0.3,
            "share": 0.3 / 2592,
        },
        "reasons": list(exp.reasons),
    }
    out["hypothesis"]["during"] = exp.verdict == "passed"
    if exp.lost is not None:
        out["integrity"] = {"acked": 5234, "lost": exp.lost, "duplicated": 0, "out_of_order": 0}
    if exp.phases:
        out["phases"] = [{"name": name, "at": exp.fault_start + at} for name, at in exp.phases]
    return out


def write_synthetic_run(
    root: Path,
    run_id: str = "20260101T000000Z-gameday",
    experiments: tuple[SyntheticExperiment, ...] = DEFAULT_EXPERIMENTS,
    *,
    seed: int = 7,
    started: float = STARTED,
    drop_keys: tuple[str, ...] = (),
    events: bool = False,
) -> SyntheticRun:
    """Write ``root/run_id`` with run.json and one timeline.csv per experiment (unless ``timeline=False``);
    with ``events``, also the load's raw events file (``load/events/events-synth-1.bin``)."""
    rng = np.random.default_rng(seed)
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    verdicts = {e.verdict for e in experiments}
    verdict = "interrupted" if "interrupted" in verdicts else "failed" if "failed" in verdicts else "passed"
    run: dict[str, Any] = {
        "run_id": run_id,
        "scenario": "scenarios/gameday.yaml",
        "target": "local",
        "started": started,
        "ended": started + max(e.offset_s + e.duration_s for e in experiments),
        "verdict": verdict,
        "experiments": [_experiment_json(e) for e in experiments],
        "load": {"users": 100, "requests": 41234, "messages_acked": 5234},
        "environment": {
            "versions": {"resilience": "0.1.0", "python": "3.11.2", "postgresql": "15.8", "patroni": "4.0.3"},
            "target": {"name": "local", "replicas": 3},
            "load": {"profile": "steady", "users": 100, "spawn_rate": 20, "rooms": 10},
        },
        "reproduce": "resilience run scenarios/gameday.yaml --seed 7",
        "errors": [],
        "interrupted_by": "SIGINT" if verdict == "interrupted" else None,
    }
    if events:
        folder = run_dir / "load" / "events"
        folder.mkdir(parents=True)
        (folder / "events-synth-1.bin").write_bytes(MAGIC + b"".join(r for e in experiments for r in _event_records(e)))
        run["load"]["events_dir"] = "load"
    for key in drop_keys:
        run.pop(key, None)
    (run_dir / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    for exp in experiments:
        (run_dir / exp.name).mkdir()
        (run_dir / exp.name / "journal.json").write_text("{}", encoding="utf-8")
        if not exp.timeline:
            continue
        rows = _timeline_rows(exp, rng)
        with (run_dir / exp.name / "timeline.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return SyntheticRun(path=run_dir, run_id=run_id, experiments=experiments)
