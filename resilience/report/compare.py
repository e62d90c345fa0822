"""Compare two runs: what regressed or improved, experiment by experiment, and one verdict.

Pure computation over two ``Run`` objects. Experiments are matched by name. A change counts only when
it is beyond both a relative and an absolute tolerance (noise between two runs of the same build is
normal); integrity counts and pass/fail facts have no tolerance: any step the wrong way is a regression.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from resilience.analysis.budget import format_share
from resilience.capacity.result import CAPACITY_FILE, CapacityResult, KneeSummary, read_capacity
from resilience.errors import ConfigError
from resilience.report.build import ExperimentData, ReportData
from resilience.report.model import Experiment, Run
from resilience.report.series import split_phases

__all__ = [
    "FORMATS",
    "Change",
    "Comparison",
    "Tolerances",
    "capacity_changes",
    "compare_reports",
    "compare_runs",
    "knee_bounds",
    "knee_status",
    "knee_words",
    "read_capacity_of",
    "render_comparison",
    "steady_p95",
]

Status = Literal["regressed", "improved", "unchanged", "not comparable"]
Verdict = Literal["regressed", "improved", "unchanged"]


@dataclass(frozen=True)
class Tolerances:
    """How much worse (or better) a figure must get to count: beyond ``relative`` AND the absolute one."""

    relative: float = 0.10
    """Share of the earlier value (0.10 = 10 %)."""
    seconds: float = 1.0
    """Recovery and detection times."""
    latency_ms: float = 5.0
    """Peak p95."""
    error_rate: float = 0.0005
    """Error rate as a fraction (0.0005 = 0.05 percentage points)."""
    budget: float = 0.0001
    """Share of the period's error budget used (0.0001: 0.01 % of it, 0.26 s of full outage in 30 days
    at 99.9 %)."""


@dataclass(frozen=True)
class Change:
    """One compared figure of one experiment (``experiment`` is "" for run-level facts)."""

    experiment: str
    metric: str
    before: str
    after: str
    status: Status
    note: str = ""


@dataclass(frozen=True)
class Comparison:
    """Every compared figure, and the verdict: regressed if anything regressed, else improved, else unchanged."""

    run_a: str
    run_b: str
    changes: tuple[Change, ...]

    @property
    def regressions(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.status == "regressed")

    @property
    def improvements(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.status == "improved")

    @property
    def verdict(self) -> Verdict:
        if self.regressions:
            return "regressed"
        return "improved" if self.improvements else "unchanged"


def _direction(before: float, after: float, relative: float, absolute: float) -> Status:
    """Lower is better: regressed when ``after`` is higher beyond both tolerances, improved when lower."""
    delta = after - before
    threshold = max(absolute, relative * abs(before))
    if delta > threshold:
        return "regressed"
    if -delta > threshold:
        return "improved"
    return "unchanged"


@dataclass(frozen=True)
class _Metric:
    name: str
    get: Callable[[Experiment], float | None]
    fmt: Callable[[float], str]
    absolute: float | None  # None: any increase counts; else beyond both this and the relative tolerance
    missing_is_bad: bool = False


def _metrics(tol: Tolerances) -> list[_Metric]:
    def counts(field: str) -> Callable[[Experiment], float | None]:
        def get(e: Experiment) -> float | None:
            value = getattr(e.integrity, field) if e.integrity is not None else None
            return None if value is None else float(value)

        return get

    return [
        _Metric("recovery time", lambda e: e.recovery_s, lambda v: f"{v:.1f} s", tol.seconds, missing_is_bad=True),
        _Metric("time to detect", lambda e: e.detect_s, lambda v: f"{v:.1f} s", tol.seconds),
        _Metric("peak p95", lambda e: e.peak_p95_ms, lambda v: f"{v:.0f} ms", tol.latency_ms),
        _Metric("error rate", lambda e: e.error_rate, lambda v: f"{v * 100:.2f} %", tol.error_rate),
        _Metric(
            "error budget used",
            lambda e: e.error_budget.share if e.error_budget is not None else None,
            format_share,
            tol.budget,
        ),
        _Metric("lost messages", counts("lost"), lambda v: f"{v:.0f}", None),
        _Metric("duplicated messages", counts("duplicated"), lambda v: f"{v:.0f}", None),
        _Metric("out-of-order messages", counts("out_of_order"), lambda v: f"{v:.0f}", 0.0),
    ]


def _numeric(name: str, m: _Metric, a: Experiment, b: Experiment, tol: Tolerances) -> Change | None:
    va, vb = m.get(a), m.get(b)
    if va is None and vb is None:
        return None
    before = "—" if va is None else m.fmt(va)
    after = "—" if vb is None else m.fmt(vb)
    if va is None or vb is None:
        if m.missing_is_bad and b.verdict not in ("interrupted", "aborted") and b.fault_start is not None:
            status: Status = "regressed" if vb is None else "improved"
            return Change(name, m.name, before, after, status, "no recovery" if vb is None else "recovers now")
        return Change(name, m.name, before, after, "not comparable", "measured in one run only")
    if m.absolute is None:
        status = "regressed" if vb > va else "improved" if vb < va else "unchanged"
    else:
        status = _direction(va, vb, tol.relative, m.absolute)
    return Change(name, m.name, before, after, status)


def _flag(name: str, metric: str, a: bool | None, b: bool | None, words: tuple[str, str]) -> Change | None:
    """True is good: True -> False regressed, False -> True improved."""
    if a is None and b is None:
        return None

    def word(v: bool | None) -> str:
        return "—" if v is None else words[0] if v else words[1]

    if a is None or b is None:
        return Change(name, metric, word(a), word(b), "not comparable", "measured in one run only")
    status: Status = "unchanged" if a == b else "improved" if b else "regressed"
    return Change(name, metric, word(a), word(b), status)


def _verdict_change(name: str, a: str, b: str) -> Change:
    if a == b:
        return Change(name, "verdict", a, b, "unchanged")
    if "interrupted" in (a, b) or "unknown" in (a, b):
        return Change(name, "verdict", a, b, "not comparable")
    status: Status = "improved" if b == "passed" else "regressed" if a == "passed" else "unchanged"
    return Change(name, "verdict", a, b, status)


def _experiment_changes(a: Experiment, b: Experiment, tol: Tolerances) -> list[Change]:
    name = a.name
    changes = [
        _verdict_change(name, a.verdict, b.verdict),
        _flag(name, "hypothesis before", a.hypothesis_before, b.hypothesis_before, ("held", "deviated")),
        _flag(name, "hypothesis after", a.hypothesis_after, b.hypothesis_after, ("held", "deviated")),
        _flag(name, "recovery target", a.recovery_met, b.recovery_met, ("met", "missed")),
    ]
    changes += [_numeric(name, m, a, b, tol) for m in _metrics(tol)]
    return [c for c in changes if c is not None]


def compare_runs(a: Run, b: Run, tolerances: Tolerances | None = None) -> Comparison:
    """Compare run ``a`` (before) with run ``b`` (after)."""
    tol = tolerances or Tolerances()
    changes = [_verdict_change("", a.verdict, b.verdict)]
    by_name_b = {e.name: e for e in b.experiments}
    names_a = {e.name for e in a.experiments}
    for exp in a.experiments:
        other = by_name_b.get(exp.name)
        if other is None:
            changes.append(Change(exp.name, "experiment", "ran", "absent", "not comparable", f"not in {b.run_id}"))
        else:
            changes += _experiment_changes(exp, other, tol)
    for exp in b.experiments:
        if exp.name not in names_a:
            changes.append(Change(exp.name, "experiment", "absent", "ran", "not comparable", f"new in {b.run_id}"))
    changes += capacity_changes(a, b, relative=tol.relative)
    return Comparison(run_a=a.run_id, run_b=b.run_id, changes=tuple(changes))


def steady_p95(item: ExperimentData) -> float | None:
    """Median per-interval p95 before the fault (the steady state the fault was measured against)."""
    if item.series is None:
        return None
    exp = item.experiment
    before = split_phases(item.series, "p95_ms", exp.fault_start, exp.fault_end)["before"]
    return float(np.median(before)) if before.size else None


def compare_reports(a: ReportData, b: ReportData, tolerances: Tolerances | None = None) -> Comparison:
    """``compare_runs`` plus figures only the timelines hold: the steady-state p95 before each fault."""
    tol = tolerances or Tolerances()
    base = compare_runs(a.run, b.run, tol)
    steady_b = {item.experiment.name: steady_p95(item) for item in b.experiments}
    extra = []
    for item in a.experiments:
        name = item.experiment.name
        before, after = steady_p95(item), steady_b.get(name)
        if before is None or after is None:
            continue
        status = _direction(before, after, tol.relative, tol.latency_ms)
        extra.append(Change(name, "steady-state p95", f"{before:.0f} ms", f"{after:.0f} ms", status))
    return Comparison(run_a=base.run_a, run_b=base.run_b, changes=(*base.changes, *extra))


# -- capacity knees (capacity.json of each run) ------------------------------------------------------

_METRIC = "capacity knee (users)"


def read_capacity_of(run: Run) -> CapacityResult | None:
    path = run.path / CAPACITY_FILE
    return read_capacity(path) if path.is_file() else None


def knee_words(knee: KneeSummary | None) -> str:
    if knee is None:
        return "not measured"
    if knee.below_range:
        return "below lowest step"
    text = f"{'>=' if knee.censored else ''}{knee.users:,.0f}"
    if knee.ci_low is not None and knee.ci_high is not None and knee.ci_high > knee.ci_low:
        text += f" [{knee.ci_low:,.0f}-{knee.ci_high:,.0f}]"
    return text


def knee_bounds(knee: KneeSummary) -> tuple[float, float]:
    low = knee.ci_low if knee.ci_low is not None else knee.users
    high = knee.ci_high if knee.ci_high is not None else knee.users
    return low, high


def knee_status(before: KneeSummary, after: KneeSummary, relative: float) -> Status:
    """regressed / improved / unchanged for two knees (see the module docstring)."""
    (lo_a, hi_a), (lo_b, hi_b) = knee_bounds(before), knee_bounds(after)
    # a lower bound (no repeat found the knee) reaches up without limit: it overlaps anything above it
    hi_a, hi_b = (math.inf if k.censored and not k.values else hi for k, hi in ((before, hi_a), (after, hi_b)))
    overlap = lo_b <= hi_a and lo_a <= hi_b
    if after.users < before.users * (1 - relative) and not overlap:
        return "regressed"
    if after.users > before.users * (1 + relative) and not overlap:
        return "improved"
    return "unchanged"


def capacity_changes(a: Run, b: Run, *, relative: float = 0.10) -> list[Change]:
    """The knee of every condition of run ``a`` against run ``b`` (nothing when neither has capacity.json)."""
    try:
        before, after = read_capacity_of(a), read_capacity_of(b)
    except ConfigError as exc:
        return [Change("capacity", _METRIC, "?", "?", "not comparable", str(exc))]
    if before is None and after is None:
        return []
    if before is None or after is None:
        missing = a.run_id if before is None else b.run_id
        return [Change("capacity", _METRIC, "", "", "not comparable", f"no {CAPACITY_FILE} in {missing}")]
    changes = []
    for cond in before.conditions:
        other = next((c for c in after.conditions if c.name == cond.name), None)
        name = f"capacity:{cond.name}"
        if other is None or cond.knee is None or other.knee is None:
            note = f"not measured in {b.run_id if other is None or other.knee is None else a.run_id}"
            changes.append(
                Change(
                    name,
                    _METRIC,
                    knee_words(cond.knee),
                    knee_words(other.knee if other else None),
                    "not comparable",
                    note,
                )
            )
            continue
        note = "lower bound (no step failed)" if cond.knee.censored or other.knee.censored else ""
        status = knee_status(cond.knee, other.knee, relative)
        changes.append(Change(name, _METRIC, knee_words(cond.knee), knee_words(other.knee), status, note))
    return changes


# -- the comparison as text, Markdown or JSON ------------------------------------------------------

FORMATS = ("text", "markdown", "json")


def _headline(c: Comparison) -> str:
    n_reg, n_imp = len(c.regressions), len(c.improvements)
    return (
        f"{c.run_a} -> {c.run_b}: {c.verdict.upper()} "
        f"({n_reg} regression{'s' * (n_reg != 1)}, {n_imp} improvement{'s' * (n_imp != 1)})"
    )


def _label(change: Change) -> str:
    return change.experiment or "(run)"


def _text(c: Comparison) -> str:
    lines = [_headline(c)]
    for title, status in (("Regressed", "regressed"), ("Improved", "improved"), ("Not comparable", "not comparable")):
        rows = [x for x in c.changes if x.status == status]
        if not rows:
            continue
        lines += ["", f"{title}:"]
        width = max(len(_label(x)) for x in rows)
        metric_width = max(len(x.metric) for x in rows)
        for x in rows:
            note = f"  ({x.note})" if x.note else ""
            lines.append(f"  {_label(x):<{width}}  {x.metric:<{metric_width}}  {x.before} -> {x.after}{note}")
    unchanged = sum(x.status == "unchanged" for x in c.changes)
    lines += ["", f"Unchanged: {unchanged} figures."]
    return "\n".join(lines) + "\n"


def _markdown(c: Comparison) -> str:
    icon = {"regressed": "❌", "improved": "✅", "unchanged": "🟰"}[c.verdict]
    lines = [f"## {icon} Compare `{c.run_a}` → `{c.run_b}`: {c.verdict.upper()}", ""]
    rows = [x for x in c.changes if x.status != "unchanged"]
    if rows:
        lines += ["| Experiment | Figure | Before | After | Change |", "|---|---|---:|---:|---|"]
        for x in sorted(rows, key=lambda x: ("regressed", "improved", "not comparable").index(x.status)):
            note = f" ({x.note})" if x.note else ""
            lines.append(f"| {_label(x)} | {x.metric} | {x.before} | {x.after} | {x.status}{note} |")
        lines.append("")
    lines.append(f"{sum(x.status == 'unchanged' for x in c.changes)} figures unchanged.")
    return "\n".join(lines) + "\n"


def _json(c: Comparison) -> str:
    body = {"run_a": c.run_a, "run_b": c.run_b, "verdict": c.verdict, "changes": [asdict(x) for x in c.changes]}
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def render_comparison(comparison: Comparison, fmt: str = "text") -> str:
    """``fmt`` is one of FORMATS."""
    return {"text": _text, "markdown": _markdown, "json": _json}[fmt](comparison)
