"""Typed, tolerant view of a run folder: ``run.json`` and the per-experiment ``timeline.csv``.

The game-day runner writes ``run.json`` (DESIGN.md contract plus the extras in CONTRACTS.md). A run that
was interrupted early may lack keys; ``load_run`` never fails for a missing optional key: it records a
human-readable note in ``missing`` so reports can say what is not there. A key that is present with the
wrong type, or a file that is not JSON, is bad input: ``ConfigError`` naming file, field and value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from resilience.errors import ConfigError
from resilience.slo import Slo

__all__ = [
    "Experiment",
    "Integrity",
    "Phase",
    "Run",
    "Slo",
    "load_run",
]


@dataclass(frozen=True)
class Integrity:
    """Message integrity of one experiment: counts of acknowledged, lost, duplicated, out-of-order."""

    acked: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    out_of_order: int | None = None
    indeterminate: int | None = None
    """Sends whose outcome the client never learned (not counted as lost)."""
    delivery_ratio: float | None = None
    """Share of expected WebSocket deliveries that connected clients received."""
    violations: tuple[str, ...] = ()
    """The checker's own words for each problem found (may be long; reports show the first few)."""

    @property
    def ok(self) -> bool | None:
        """True when no acknowledged message was lost or duplicated (the runner's pass rule); None: not measured.

        Messages delivered out of order are a warning (``clean`` is False), not a failure.
        """
        if self.lost is None or self.duplicated is None:
            return None
        return self.lost == 0 and self.duplicated == 0

    @property
    def clean(self) -> bool:
        """ok and nothing delivered out of order either."""
        return bool(self.ok) and not self.out_of_order


@dataclass(frozen=True)
class Phase:
    """One step of a failover (``detect``, ``new leader``, ...) and when it happened (epoch s)."""

    name: str
    at: float


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
    error_budget_burnt: float | None = None
    detected_at: float | None = None
    recovered_at: float | None = None
    stabilisation_s: float | None = None
    integrity: Integrity | None = None
    slo: Slo = field(default_factory=Slo)
    phases: tuple[Phase, ...] = ()
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


class _Reader:
    """Reads typed fields out of JSON objects, naming file and field path in every error."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.missing: list[str] = []

    def fail(self, where: str, expected: str, value: object) -> ConfigError:
        return ConfigError(f"{self.file}: {where}: expected {expected}, got {value!r}")

    def number(self, obj: dict[str, Any], key: str, where: str, *, note: bool = True) -> float | None:
        if key not in obj or obj[key] is None:
            if note and key not in obj:
                self.missing.append(f"{where}.{key}")
            return None
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(f"{where}.{key}", "a number", value)
        return float(value)

    def count(self, obj: dict[str, Any], key: str, where: str) -> int | None:
        value = self.number(obj, key, where)
        if value is None:
            return None
        if value != int(value) or value < 0:
            raise self.fail(f"{where}.{key}", "a non-negative integer", obj[key])
        return int(value)

    def text(self, obj: dict[str, Any], key: str, where: str, *, note: bool = True) -> str | None:
        if key not in obj or obj[key] is None:
            if note and key not in obj:
                self.missing.append(f"{where}.{key}")
            return None
        if not isinstance(obj[key], str):
            raise self.fail(f"{where}.{key}", "a string", obj[key])
        return str(obj[key])

    def flag(self, obj: dict[str, Any], key: str, where: str) -> bool | None:
        if key not in obj or obj[key] is None:
            self.missing.append(f"{where}.{key}")
            return None
        if not isinstance(obj[key], bool):
            raise self.fail(f"{where}.{key}", "true or false", obj[key])
        return bool(obj[key])

    def mapping(self, obj: dict[str, Any], key: str, where: str, *, note: bool = True) -> dict[str, Any] | None:
        if key not in obj or obj[key] is None:
            if note and key not in obj:
                self.missing.append(f"{where}.{key}")
            return None
        if not isinstance(obj[key], dict):
            raise self.fail(f"{where}.{key}", "an object", obj[key])
        value: dict[str, Any] = obj[key]
        return value


def _integrity(r: _Reader, raw: dict[str, Any] | None, where: str) -> Integrity | None:
    if raw is None:
        return None
    return Integrity(
        acked=r.count(raw, "acked", where),
        lost=r.count(raw, "lost", where),
        duplicated=r.count(raw, "duplicated", where),
        out_of_order=r.count(raw, "out_of_order", where),
        indeterminate=_optional_count(r, raw, "indeterminate", where),
        delivery_ratio=r.number(raw, "delivery_ratio", where, note=False),
        violations=_texts(r, raw.get("violations"), f"{where}.violations"),
    )


def _slo(r: _Reader, raw: dict[str, Any] | None, where: str) -> Slo:
    if raw is None:
        return Slo.model_validate(dict.fromkeys(Slo().to_json()))  # nothing recorded: no objective to draw
    return Slo.model_validate({key: r.number(raw, key, where, note=False) for key in Slo().to_json()})


def _phases(r: _Reader, raw: object, where: str) -> tuple[Phase, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise r.fail(where, "a list of {name, at}", raw)
    phases = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise r.fail(f"{where}[{i}]", "an object with name and at", item)
        name = r.text(item, "name", f"{where}[{i}]", note=False)
        at = r.number(item, "at", f"{where}[{i}]", note=False)
        if name is None or at is None:
            raise r.fail(f"{where}[{i}]", "an object with name and at", item)
        phases.append(Phase(name=name, at=at))
    return tuple(sorted(phases, key=lambda p: p.at))


def _optional_count(r: _Reader, obj: dict[str, Any], key: str, where: str) -> int | None:
    return r.count(obj, key, where) if obj.get(key) is not None else None


def _optional_flag(r: _Reader, obj: dict[str, Any], key: str, where: str) -> bool | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise r.fail(f"{where}.{key}", "true or false", value)
    return value


def _texts(r: _Reader, raw: object, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise r.fail(where, "a list of strings", raw)
    return tuple(str(item) for item in raw)


def _experiment(r: _Reader, raw: object, index: int) -> Experiment:
    where = f"experiments[{index}]"
    if not isinstance(raw, dict):
        raise r.fail(where, "an object", raw)
    r.missing = []
    name = r.text(raw, "name", where) or f"experiment-{index + 1}"
    hypothesis = r.mapping(raw, "hypothesis", where) or {}
    recovery = r.mapping(raw, "recovery", where, note=False) or {}
    exp = Experiment(
        name=name,
        verdict=r.text(raw, "verdict", where) or "unknown",
        file=r.text(raw, "file", where, note=False),
        dir=r.text(raw, "dir", where, note=False),
        hypothesis_before=r.flag(hypothesis, "before", f"{where}.hypothesis") if hypothesis else None,
        hypothesis_after=r.flag(hypothesis, "after", f"{where}.hypothesis") if hypothesis else None,
        hypothesis_during=_optional_flag(r, hypothesis, "during", f"{where}.hypothesis"),
        fault_start=r.number(raw, "fault_start", where),
        started=r.number(raw, "started", where, note=False),
        ended=r.number(raw, "ended", where, note=False),
        fault_end=r.number(raw, "fault_end", where),
        detect_s=r.number(raw, "detect_s", where),
        recovery_s=r.number(raw, "recovery_s", where),
        recovery_target_s=r.number(raw, "recovery_target_s", where),
        peak_p95_ms=r.number(raw, "peak_p95_ms", where),
        error_rate=r.number(raw, "error_rate", where),
        error_budget_burnt=r.number(raw, "error_budget_burnt", where, note=False),
        detected_at=r.number(recovery, "detected_at", f"{where}.recovery", note=False),
        recovered_at=r.number(recovery, "recovered_at", f"{where}.recovery", note=False),
        stabilisation_s=r.number(recovery, "stabilisation_s", f"{where}.recovery", note=False),
        integrity=_integrity(r, r.mapping(raw, "integrity", where), f"{where}.integrity"),
        slo=_slo(r, r.mapping(raw, "slo", where, note=False), f"{where}.slo"),
        phases=_phases(r, raw.get("phases"), f"{where}.phases"),
        reasons=_texts(r, raw.get("reasons"), f"{where}.reasons"),
    )
    missing = tuple(m.removeprefix(f"{where}.") for m in r.missing)
    return replace(exp, missing=missing)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (is this a run folder?)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top, got {type(data).__name__}")
    return data


def load_run(run_dir: Path | str) -> Run:
    """Read ``run_dir/run.json`` into a ``Run``; ConfigError for a missing or malformed file."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: not a directory (expected a run folder with run.json)")
    file = run_dir / "run.json"
    raw = _read_json(file)
    r = _Reader(file)
    raw_experiments = raw.get("experiments", [])
    if not isinstance(raw_experiments, list):
        raise r.fail("experiments", "a list", raw_experiments)
    experiments = tuple(_experiment(r, item, i) for i, item in enumerate(raw_experiments))
    r.missing = []
    kind = r.text(raw, "kind", "run", note=False) or "gameday"
    run = Run(
        path=run_dir,
        run_id=r.text(raw, "run_id", "run") or run_dir.name,
        verdict=r.text(raw, "verdict", "run") or "unknown",
        experiments=experiments,
        scenario=r.text(raw, "scenario", "run", note=kind == "gameday"),
        target=r.text(raw, "target", "run"),
        started=r.number(raw, "started", "run"),
        ended=r.number(raw, "ended", "run"),
        load=r.mapping(raw, "load", "run") or {},
        environment=r.mapping(raw, "environment", "run") or {},
        reproduce=r.text(raw, "reproduce", "run"),
        errors=_texts(r, raw.get("errors"), "errors"),
        interrupted_by=r.text(raw, "interrupted_by", "run", note=False),
        kind=kind,
        integrity=_integrity(r, r.mapping(raw, "integrity", "run", note=False), "integrity"),
        slo=_slo(r, r.mapping(raw, "slo", "run", note=False), "slo"),
    )
    if "experiments" not in raw and run.kind == "gameday":
        r.missing.append("run.experiments")
    missing = tuple(m.removeprefix("run.") for m in r.missing)
    return replace(run, missing=missing)
