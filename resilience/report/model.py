"""The reports' view of a run folder: ``run.json`` read through its model (``resilience.rundoc``), flattened
into ``Run`` and ``Experiment`` with the derived figures the charts and tables use.

A run that was interrupted early may lack keys; ``load_run`` never fails for a missing optional key: it
records a human-readable note in ``missing`` so reports can say what is not there. A key that is present
with the wrong type, or a file that is not JSON, is bad input: ``ConfigError`` naming file, field and value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from resilience.errors import ConfigError
from resilience.rundoc import RUN_FILE, ExperimentDoc, HypothesisDoc, RecoveryDoc, RunDoc
from resilience.rundoc import AlertDoc as Alert
from resilience.rundoc import AnatomyDoc as Anatomy
from resilience.rundoc import DeployDoc as Deploy
from resilience.rundoc import ErrorBudgetDoc as ErrorBudgetUse
from resilience.rundoc import IntegrityDoc as Integrity
from resilience.rundoc import PhaseDoc as Phase
from resilience.slo import Slo

__all__ = [
    "Alert",
    "Anatomy",
    "Deploy",
    "Experiment",
    "Integrity",
    "Phase",
    "Run",
    "Slo",
    "contained",
    "load_run",
]


@dataclass(frozen=True)
class Experiment:
    """One experiment's figures as the runner recorded them; ``None`` means not recorded."""

    name: str
    verdict: str
    file: str | None = None
    dir: str | None = None
    hypothesis_before: bool | None = None
    hypothesis_after: bool | None = None
    hypothesis_during: bool | None = None
    fault_start: float | None = None
    fault_end: float | None = None
    started: float | None = None
    """When the experiment (warm-up, hypothesis, fault, recovery wait) began, epoch s."""
    ended: float | None = None
    detect_s: float | None = None
    recovery_s: float | None = None
    recovery_target_s: float | None = None
    peak_p95_ms: float | None = None
    error_rate: float | None = None
    error_budget: ErrorBudgetUse | None = None
    """The share of the period's error budget the experiment used (None: an older run)."""
    detected_at: float | None = None
    recovered_at: float | None = None
    stabilisation_s: float | None = None
    integrity: Integrity | None = None
    slo: Slo = field(default_factory=Slo)
    phases: tuple[Phase, ...] = ()
    anatomy: Anatomy | None = None
    """The measured phases against the recovery (``phases`` are then measured, not the runner's steps)."""
    alerts: tuple[Alert, ...] = ()
    """Expected alerts and every other alert active from the fault start (``fired_s`` from the fault start)."""
    deploys: tuple[Deploy, ...] = ()
    """The deploys the experiment made (rolling, blue-green), in order."""
    silent_failure: bool | None = None
    reasons: tuple[str, ...] = ()
    """Why the runner gave this verdict (its ``reasons`` list), in its words."""
    missing: tuple[str, ...] = ()

    @property
    def detection_time(self) -> float | None:
        """Epoch second the fault was detected (``recovery.detected_at`` or fault start + ``detect_s``)."""
        if self.detected_at is not None:
            return self.detected_at
        if self.fault_start is not None and self.detect_s is not None:
            return self.fault_start + self.detect_s
        return None

    @property
    def recovery_time(self) -> float | None:
        """Epoch second the SLO held again (``recovery.recovered_at`` or fault start + ``recovery_s``)."""
        if self.recovered_at is not None:
            return self.recovered_at
        if self.fault_start is not None and self.recovery_s is not None:
            return self.fault_start + self.recovery_s
        return None

    @property
    def impact_window(self) -> tuple[float, float] | None:
        """From the fault start until recovery, or until the fault ended if that came later or never recovered."""
        if self.fault_start is None:
            return None
        end = self.fault_end if self.fault_end is not None else self.fault_start
        if self.recovery_time is not None:
            end = max(end, self.recovery_time)
        return self.fault_start, end

    def phase_labels(self) -> dict[str, str]:
        """Words for the three phases around the impact window: before / during / after."""
        recovered = self.recovery_time is not None
        return {
            "before": "before the fault",
            "during": "fault until recovered" if recovered else "during the fault",
            "after": "after recovery" if recovered else "after the fault",
        }

    @property
    def recovery_met(self) -> bool | None:
        """Whether recovery came within target: False when it never came; None when there is no target."""
        if self.recovery_target_s is None:
            return None
        if self.recovery_s is None:
            never_came = self.fault_start is not None and self.verdict not in ("interrupted", "aborted")
            return False if never_came else None
        return self.recovery_s <= self.recovery_target_s


@dataclass(frozen=True)
class Run:
    """A whole run: top-level facts, experiments, environment, and notes about missing data."""

    path: Path
    run_id: str
    verdict: str
    experiments: tuple[Experiment, ...]
    scenario: str | None = None
    target: str | None = None
    started: float | None = None
    ended: float | None = None
    load: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    reproduce: str | None = None
    errors: tuple[str, ...] = ()
    """Run-level errors the runner recorded (target, load, revert failures)."""
    interrupted_by: str | None = None
    kind: str = "gameday"
    """What wrote the run: ``gameday`` (experiments), ``load`` (load alone) or ``capacity`` (run.json ``kind``)."""
    integrity: Integrity | None = None
    """Run-level integrity (load-only runs record it here rather than per experiment)."""
    slo: Slo = field(default_factory=Slo)
    """Run-level SLOs, when recorded."""
    missing: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float | None:
        """Wall-clock length of the run in seconds, when both ends are known."""
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


_NO_SLO = Slo.model_validate(dict.fromkeys(Slo().to_json()))
"""An experiment with no recorded SLO: no objective to draw."""

_EXPECTED = {
    "list_type": "a list",
    "float_type": "a number",
    "int_type": "a non-negative integer",
    "greater_than_equal": "a non-negative integer",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "literal_error": "one of the known values",
    "finite_number": "a number",
}


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "run"


def _bad_input(file: Path, exc: ValidationError) -> ConfigError:
    """The first validation error as one line: file, field path, what was expected, what was there."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    if err["type"] == "missing":  # a required key of a nested object (a phase without ``at``)
        return ConfigError(f"{file}: {_where(loc[:-1])}: expected an object with name and at, got {err['input']!r}")
    expected = _EXPECTED.get(err["type"], err["msg"].lower())
    return ConfigError(f"{file}: {_where(loc)}: expected {expected}, got {err['input']!r}")


def _unset(doc: Any, keys: tuple[str, ...], prefix: str = "") -> list[str]:
    return [f"{prefix}{k}" for k in keys if k not in doc.model_fields_set]


_NOTED = ("fault_start", "fault_end", "detect_s", "recovery_s", "recovery_target_s", "peak_p95_ms", "error_rate")
"""Experiment keys whose absence a report mentions (the rest are extras it can do without)."""
_NOTED_INTEGRITY = ("acked", "lost", "duplicated", "out_of_order")


def _missing(doc: ExperimentDoc) -> tuple[str, ...]:
    missing = _unset(doc, ("name", "verdict", "hypothesis"))
    if doc.hypothesis is not None:
        hyp = doc.hypothesis
        missing += [f"hypothesis.{k}" for k in ("before", "after") if getattr(hyp, k) is None]
    missing += _unset(doc, _NOTED)
    if "integrity" not in doc.model_fields_set:
        missing.append("integrity")
    elif doc.integrity is not None:
        missing += _unset(doc.integrity, _NOTED_INTEGRITY, "integrity.")
    return tuple(missing)


def _experiment(doc: ExperimentDoc, index: int) -> Experiment:
    hypothesis = doc.hypothesis or HypothesisDoc()
    recovery = doc.recovery or RecoveryDoc()
    return Experiment(
        name=doc.name or f"experiment-{index + 1}",
        verdict=doc.verdict or "unknown",
        file=doc.file,
        dir=doc.dir,
        hypothesis_before=hypothesis.before,
        hypothesis_after=hypothesis.after,
        hypothesis_during=hypothesis.during,
        fault_start=doc.fault_start,
        started=doc.started,
        ended=doc.ended,
        fault_end=doc.fault_end,
        detect_s=doc.detect_s,
        recovery_s=doc.recovery_s,
        recovery_target_s=doc.recovery_target_s,
        peak_p95_ms=doc.peak_p95_ms,
        error_rate=doc.error_rate,
        error_budget=doc.error_budget,
        detected_at=recovery.detected_at,
        recovered_at=recovery.recovered_at,
        stabilisation_s=recovery.stabilisation_s,
        integrity=doc.integrity,
        slo=doc.slo or _NO_SLO,
        phases=tuple(sorted(doc.phases, key=lambda p: p.at)),
        anatomy=doc.anatomy,
        alerts=tuple(doc.alerts or ()),
        deploys=tuple(doc.deploys or ([doc.deploy] if doc.deploy else [])),
        silent_failure=doc.silent_failure,
        reasons=tuple(doc.reasons),
        missing=_missing(doc),
    )


def contained(run_dir: Path, path: Path) -> bool:
    """Whether ``path`` (built from names read in run.json) stays inside ``run_dir`` once resolved: a
    ``dir`` of ``../..`` or ``/etc`` must not make the report read files outside the run folder."""
    return path.resolve().is_relative_to(run_dir.resolve())


def read_run_doc(file: Path) -> RunDoc:
    """Parse and validate a run.json; ConfigError (file, field, value) for anything malformed."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file (is this a run folder?)") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a JSON object at the top, got {type(data).__name__}")
    try:
        return RunDoc.model_validate(data)
    except ValidationError as exc:
        raise _bad_input(file, exc) from None


def load_run(run_dir: Path | str) -> Run:
    """Read ``run_dir/run.json`` into a ``Run``; ConfigError for a missing or malformed file."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: not a directory (expected a run folder with run.json)")
    doc = read_run_doc(run_dir / RUN_FILE)
    kind = doc.kind or "gameday"
    noted = ["run_id", "verdict", *(["scenario"] if kind == "gameday" else []), "target", "started", "ended"]
    noted += ["load", "environment", "reproduce"]
    missing = _unset(doc, tuple(noted))
    if doc.experiments is None and kind == "gameday":
        missing.append("experiments")
    return Run(
        path=run_dir,
        run_id=doc.run_id or run_dir.name,
        verdict=doc.verdict or "unknown",
        experiments=tuple(_experiment(e, i) for i, e in enumerate(doc.experiments or [])),
        scenario=doc.scenario,
        target=doc.target,
        started=doc.started,
        ended=doc.ended,
        load=doc.load.model_dump(exclude_unset=True) if doc.load else {},
        environment=dict(doc.environment or {}),
        reproduce=doc.reproduce,
        errors=tuple(doc.errors),
        interrupted_by=doc.interrupted_by,
        kind=kind,
        integrity=doc.integrity,
        slo=doc.slo or _NO_SLO,
        missing=tuple(missing),
    )
