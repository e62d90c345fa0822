"""What a deploy cost users, from the load's timeline (pure): failed requests during it, time to roll back.

A deploy record is what the target's ``deploy`` returned (``DeployResult.to_json``) plus the outcome the
experiment expected. Failed requests are counted from the deploy's start to its end; for a rollback, the
time to roll back runs from the first failed response after the start to the moment all traffic was on
the previous release again. A deploy that completed or halted must also keep the SLO in every window of
its span (``slo_broken``): "zero downtime" includes latency, not only errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from resilience.analysis.recovery import Sample, broken_objectives, peak, window
from resilience.slo import Slo

__all__ = ["deploy_reasons", "summarise_deploy", "train_figures"]


def _failed(samples: Sequence[Sample], start: float, end: float, resolution_s: float) -> float:
    return sum(s.throughput * resolution_s * s.error_rate for s in samples if start <= s.t < end)


def _slo_broken(samples: Sequence[Sample], slo: Slo | None, start: float, end: float, resolution_s: float) -> list[str]:
    """Each window of the span whose SLO broke: ``"+3.0 s: p95_ms 977.0 ms > 100 ms"`` (seconds from ``start``)."""
    if slo is None:
        return []
    rows = window(samples, start, end, resolution_s)
    return [f"+{max(0.0, s.t - start):.1f} s: {why}" for s in rows for why in broken_objectives([s], slo)]


def summarise_deploy(
    record: Mapping[str, Any], samples: Sequence[Sample], *, resolution_s: float, slo: Slo | None = None
) -> dict[str, Any]:
    """The run.json ``deploy`` entry of one deploy record (``slo``: the experiment's, judged per window)."""
    started, finished = float(record["started"]), float(record["finished"])
    first_failure = next((s.t for s in samples if s.t >= started and s.error_rate > 0 and s.throughput > 0), None)
    back = record.get("rollback_finished")
    to_rollback = None
    if record.get("outcome") == "rolled_back" and back is not None:
        to_rollback = round(float(back) - (first_failure if first_failure is not None else started), 3)
    return {
        "strategy": record.get("strategy"),
        "release": record.get("release"),
        "previous": record.get("previous"),
        "started": started,
        "finished": finished,
        "outcome": record.get("outcome"),
        "expected": record.get("expected"),
        "rolled_back_by": record.get("rolled_back_by"),
        "reason": record.get("reason") or None,
        "failed_requests": round(_failed(samples, started, finished, resolution_s)),
        "peak_p95_ms": peak(samples, "p95_ms", resolution_s=resolution_s, start=started, end=finished),
        "slo_broken": _slo_broken(samples, slo, started, finished, resolution_s),
        "first_failure": first_failure,
        "switched_at": record.get("switched_at"),
        "rollback_started": record.get("rollback_started"),
        "rollback_finished": back,
        "time_to_rollback_s": to_rollback,
        "duration_s": round(finished - started, 3),
        "steps": list(record.get("steps") or []),
        "measurements": list(record.get("measurements") or []),
    }


def deploy_reasons(deploys: Sequence[Mapping[str, Any]], recovery_target_s: float) -> list[str]:
    """Why the deploys fail the experiment: an unexpected outcome; a good deploy that failed requests or
    broke the SLO in a window of its span; a rollback not made by the system, or slower than the recovery
    target; a halted deploy that users noticed."""
    reasons = []
    for i, d in enumerate(deploys, 1):
        tag = f"deploy {i} ({d['release']}, {d['strategy']})" if len(deploys) > 1 else f"deploy of {d['release']}"
        expected = d.get("expected")
        if expected and d["outcome"] != expected:
            reasons.append(
                f"{tag}: {d['outcome']}, expected {expected}" + (f" ({d['reason']})" if d.get("reason") else "")
            )
        elif d["outcome"] == "completed" and d["failed_requests"] > 0:
            reasons.append(f"{tag}: {d['failed_requests']} failed request(s), expected 0")
        elif d["outcome"] == "rolled_back":
            if d.get("rolled_back_by") != "system":
                reasons.append(f"{tag}: rolled back by {d.get('rolled_back_by')}, not by the system")
            ttr = d.get("time_to_rollback_s")
            if ttr is not None and ttr > recovery_target_s:
                reasons.append(f"{tag}: rolled back in {ttr:.1f} s, target {recovery_target_s:g} s")
        elif d["outcome"] == "halted" and d["failed_requests"] > 0:
            reasons.append(f"{tag}: halted, but users saw {d['failed_requests']} failed request(s)")
        elif d["outcome"] in ("completed", "halted") and d.get("slo_broken"):
            broken = d["slo_broken"]
            more = f" (and {len(broken) - 1} more window(s))" if len(broken) > 1 else ""
            reasons.append(f"{tag}: {d['outcome']}, but the SLO broke during it at {broken[0]}{more}")
    return reasons


def train_figures(deploys: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Change failure rate (deploys that did not complete) and failed requests per deploy."""
    n = len(deploys)
    failed = sum(d["outcome"] != "completed" for d in deploys)
    return {
        "deploys": n,
        "change_failure_rate": round(failed / n, 4) if n else None,
        "failed_requests_per_deploy": [d["failed_requests"] for d in deploys],
        "failed_requests_mean": round(sum(d["failed_requests"] for d in deploys) / n, 2) if n else None,
    }
