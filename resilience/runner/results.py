"""One experiment's figures and verdict: fault window, hypothesis before/during/after, recovery, budget.

``experiment_result`` is pure (journal, fault and marker records, timeline samples in; the run.json entry
out); ``read_records`` reads what the ledger, the timeline control and the safeguards wrote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from resilience.analysis.alerts import alert_problems, experiment_alerts, silent_failure
from resilience.analysis.anatomy import anatomy, anatomy_summary, request_recovery
from resilience.analysis.budget import budget_problem, budget_use
from resilience.analysis.deploys import deploy_reasons, summarise_deploy, train_figures
from resilience.analysis.generator import GeneratorHealth
from resilience.analysis.recovery import Recovery, Sample, analyse_recovery, peak, summarise
from resilience.load.events import Raw
from resilience.runner.verdict import hypothesis, judge
from resilience.slo import ErrorBudget, Slo

__all__ = ["experiment_result", "fault_window", "phases", "read_jsonl", "read_records"]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file (none when it does not exist; a torn last line is skipped)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def read_records(out_dir: Path) -> dict[str, Any]:
    """faults.jsonl, markers.jsonl and safeguard.json of an experiment folder."""
    safeguard = out_dir / "safeguard.json"
    return {
        "faults": read_jsonl(out_dir / "faults.jsonl"),
        "markers": read_jsonl(out_dir / "markers.jsonl"),
        "deploys": read_jsonl(out_dir / "deploys.jsonl"),
        "safeguard": json.loads(safeguard.read_text(encoding="utf-8")) if safeguard.is_file() else None,
    }


def fault_window(faults: Sequence[Mapping[str, Any]]) -> tuple[float | None, float | None]:
    """(first fault start, last fault end) on the run clock; end falls back to the last start."""
    starts = [float(f["t"]) for f in faults if f.get("event") == "start"]
    ends = [float(f["t"]) for f in faults if f.get("event") == "end"]
    if not starts:
        return None, None
    return min(starts), max(ends + starts)


def phases(
    markers: Sequence[Mapping[str, Any]],
    fault_start: float | None,
    detected_at: float | None,
    recovered_at: float | None,
) -> list[dict[str, Any]]:
    """The runner's own steps on the run clock (fault, detected, each method step done, recovered): the
    phases of an experiment without a measured anatomy (resilience/analysis/anatomy.py)."""
    out: list[dict[str, Any]] = []
    if fault_start is not None:
        out.append({"name": "fault", "at": fault_start})
    if detected_at is not None:
        out.append({"name": "detected", "at": detected_at})
    in_method = False
    for m in markers:
        if m.get("event") == "method-start":
            in_method = True
        elif m.get("event") == "method-end":
            in_method = False
        elif in_method and m.get("event") == "activity-end" and fault_start is not None and m["t"] >= fault_start:
            out.append({"name": f"{m.get('name')} done", "at": m["t"]})
    if recovered_at is not None:
        out.append({"name": "recovered", "at": recovered_at})
    origin = fault_start if fault_start is not None else 0.0
    return [
        {**p, "at_s": round(float(p["at"]) - origin, 3) if fault_start is not None else None, "source": "runner"}
        for p in sorted(out, key=lambda p: float(p["at"]))
    ]


def experiment_result(
    *,
    name: str,
    file: str,
    journal: Mapping[str, Any],
    records: Mapping[str, Any],
    samples: Sequence[Sample],
    resolution_s: float,
    slo: Slo,
    slo_json: Mapping[str, Any],
    stabilisation_s: float,
    recovery_target_s: float,
    started: float,
    ended: float,
    integrity: Mapping[str, Any] | None,
    interrupted_by: str | None,
    samples_by_completion: Sequence[Sample] | None = None,
    notices: Sequence[Mapping[str, Any]] | None = None,
    expect_alerts: Sequence[Mapping[str, Any]] = (),
    error_budget: ErrorBudget | None = None,
    observations: Sequence[Mapping[str, Any]] = (),
    events: Sequence[Raw] = (),
    generator: GeneratorHealth | None = None,
) -> dict[str, Any]:
    """The run.json entry of one experiment (the contract in docs/runner.md, with its extras).

    ``samples`` judge the verdict (the runner attributes requests to their start); ``samples_by_completion``,
    when given, give ``by_completion``: detection and recovery as the client saw them, for comparison.
    ``notices``: the alert receiver's records (None: the target has none); ``expect_alerts``: the plan's
    ``[{name, within_s}]``, which makes alerting part of the verdict; ``error_budget``: the scenario's
    availability objective (default 99.9 % over 30 days), whose limit, when set, is part of the verdict.
    ``observations`` (what the watcher read from the target's components) and ``events`` (the load's
    records) give the measured ``phases``.
    ``generator``: the load generator's health over the experiment; saturated, a passed or failed verdict
    becomes ``inconclusive`` (the figures describe the generator as much as the service), the reason first.
    """
    fault_start, fault_end = fault_window(records.get("faults", []))

    def recovery(rows: Sequence[Sample]) -> Recovery | None:
        if fault_start is None:
            return None
        return analyse_recovery(
            rows,
            slo,
            fault_start=fault_start,
            fault_end=fault_end,
            stabilisation_s=stabilisation_s,
            resolution_s=resolution_s,
            end=ended,
        )

    rec = recovery(samples)
    rec_c = recovery(samples_by_completion) if samples_by_completion is not None else None
    during = None
    if fault_start is not None and rec is not None:
        # "during": from the fault until it recovered (or the end of the observation).
        window_end = max(fault_end or fault_start, rec.recovered_at or ended, fault_start + resolution_s)
        during = bool(summarise(samples, slo, resolution_s=resolution_s, start=fault_start, end=window_end)["holds"])
    whole = summarise(samples, slo, resolution_s=resolution_s, start=started, end=ended)
    alerts = None
    if notices is not None and fault_start is not None:
        alerts = experiment_alerts(notices, expect_alerts, fault_start=fault_start, end=ended)
    detect_s = rec.detect_s if rec else None
    budget = budget_use(samples, error_budget or ErrorBudget(), resolution_s=resolution_s, start=started, end=ended)
    over_budget = budget_problem(budget)
    deploys = [summarise_deploy(d, samples, resolution_s=resolution_s, slo=slo) for d in records.get("deploys", [])]
    judgement = judge(
        journal,
        interrupted_by=interrupted_by,
        safeguard=records.get("safeguard"),
        recovery_s=rec.recovery_s if rec else None,
        recovery_target_s=recovery_target_s,
        fault_applied=fault_start is not None,
        integrity=integrity,
        alerting=[
            *_alerting(alerts, expect_alerts, detect_s, fault_applied=fault_start is not None),
            *deploy_reasons(deploys, recovery_target_s),
        ],
        budget=[over_budget] if over_budget else [],
    )
    verdict, reasons = judgement.verdict, list(judgement.reasons)
    if generator is not None and generator.saturated and verdict in ("passed", "failed"):
        verdict, reasons = "inconclusive", [generator.reason, *reasons]
    entry: dict[str, Any] = {
        "name": name,
        "file": file,
        "dir": name,
        "verdict": verdict,
        "reasons": reasons,
        "generator": generator.to_json() if generator is not None else None,
        "started": started,
        "ended": ended,
        "hypothesis": {
            "before": hypothesis(journal, "before"),
            "during": during,
            "after": hypothesis(journal, "after"),
        },
        "fault_start": fault_start,
        "fault_end": fault_end,
        "detect_s": detect_s,
        "recovery_s": rec.recovery_s if rec else None,
        "recovery_target_s": recovery_target_s,
        "recovery": {
            "detected_at": rec.detected_at if rec else None,
            "recovered_at": rec.recovered_at if rec else None,
            "stabilisation_s": stabilisation_s,
        },
        "peak_p95_ms": peak(samples, "p95_ms", resolution_s=resolution_s, start=started, end=ended),
        "error_rate": whole["error_rate"],
        "requests": whole["requests"],
        "error_budget": budget.to_json(),
        "slo": dict(slo_json),
        "integrity": dict(integrity) if integrity is not None else None,
        "safeguard": records.get("safeguard"),
        "journal_status": journal.get("status"),
        **_phases(records, rec, observations, events, resolution_s=resolution_s, p95_ms=slo.p95_ms),
        "alerts": alerts,
        "silent_failure": silent_failure(alerts, detect_s) if alerts is not None else None,
    }
    if deploys:
        entry["deploy"] = deploys[-1]
    if len(deploys) > 1:
        entry["deploys"] = deploys
        entry["deploy_train"] = train_figures(deploys)
    if samples_by_completion is not None:
        entry["by_completion"] = {
            "detect_s": rec_c.detect_s if rec_c else None,
            "recovery_s": rec_c.recovery_s if rec_c else None,
        }
    return entry


def _phases(
    records: Mapping[str, Any],
    rec: Recovery | None,
    observations: Sequence[Mapping[str, Any]],
    events: Sequence[Raw],
    *,
    resolution_s: float,
    p95_ms: float | None,
) -> dict[str, Any]:
    """``phases`` (measured when the fault has an anatomy, else the runner's steps) and ``anatomy``."""
    starts = [f for f in records.get("faults", []) if f.get("event") == "start"]
    key = str(starts[0].get("key")) if starts else None
    kind, measured = anatomy(key, observations, events, rec.fault_start) if rec is not None else (None, [])
    if kind is None or rec is None:
        markers = records.get("markers", [])
        if rec is None:
            return {"phases": phases(markers, None, None, None), "anatomy": None}
        return {"phases": phases(markers, rec.fault_start, rec.detected_at, rec.recovered_at), "anatomy": None}
    fine = None
    if rec.recovered_at is not None:
        at = request_recovery(events, rec.recovered_at, window_s=resolution_s, p95_ms=p95_ms)
        fine = round(max(at, rec.fault_start) - rec.fault_start, 3)
    return {
        "phases": measured,
        "anatomy": anatomy_summary(kind, measured, recovery_s=rec.recovery_s, recovery_request_s=fine),
    }


def _alerting(
    alerts: Sequence[Mapping[str, Any]] | None,
    expected: Sequence[Mapping[str, Any]],
    detect_s: float | None,
    *,
    fault_applied: bool,
) -> list[str]:
    """The alerting part of the verdict: judged only when the experiment expects alerts."""
    if not expected or not fault_applied:
        return []
    if alerts is None:
        return [f"expected alerts {', '.join(str(e['name']) for e in expected)}: the target has no alert receiver"]
    return alert_problems(alerts, detect_s)
