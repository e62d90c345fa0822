"""Scenario and SLO models: what a game day runs, under which load, judged against which targets.

A scenario file (``scenarios/*.yaml``) names a target, a load profile, the SLOs, and the experiments in
order, each with its recovery target. ``load_scenario`` parses and validates it; every error names the
file, the line and the field (``scenarios/smoke.yaml:12: experiments.1.recovery_target_s: ...``).
Validation and loading are one step here; running never re-validates.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from resilience.errors import ConfigError
from resilience.load import LoadParams
from resilience.slo import ErrorBudget, Slo

__all__ = [
    "ExperimentPlan",
    "LoadSpec",
    "LoadedScenario",
    "Located",
    "Scenario",
    "Slo",
    "load_mapping",
    "load_scenario",
    "load_yaml",
    "validation_error",
]

Key = str | int


# -- YAML with line numbers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """A parsed YAML document and the 1-based line of every mapping key / sequence item in it."""

    path: Path
    data: Any
    lines: Mapping[tuple[Key, ...], int]

    def line_of(self, loc: Sequence[Key]) -> int:
        """The line of the deepest known prefix of ``loc`` (the document start when none is known)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)

    def error(self, loc: Sequence[Key], message: str) -> ConfigError:
        """A ConfigError reading ``file:line: field: message``."""
        return located_error(self.path, self.line_of(loc), loc, message)


def located_error(path: Path | str, line: int, loc: Sequence[Key], message: str) -> ConfigError:
    """One error line naming file, line and field."""
    field = ".".join(_key_text(p) for p in loc)
    message = message.replace("\r", "\\r").replace("\n", "\\n")  # one line, whatever the input held
    return ConfigError(f"{path}:{line}: {field + ': ' if field else ''}{message}")


def _key_text(key: Key) -> str:
    """A field name as written, or quoted when it holds blanks, control characters or separators."""
    text = str(key)
    return text if text and text.isprintable() and not any(c in text for c in " .:") else repr(text)


def _walk(node: yaml.Node, loc: tuple[Key, ...], lines: dict[tuple[Key, ...], int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*loc, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            _walk(item, (*loc, i), lines)


def load_yaml(path: Path | str) -> Located:
    """Parse one YAML (or JSON) document, keeping line numbers; ConfigError names file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:  # e.g. a ReaderError (a control character): no mark, only a position
        position = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, position) + 1
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{line}: invalid YAML: {reason}") from exc
    lines: dict[tuple[Key, ...], int] = {(): 1}
    if node is not None:
        lines[()] = node.start_mark.line + 1
        _walk(node, (), lines)
    return Located(path, data, lines)


# -- models --------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoadSpec(_Model):
    """The load that runs all the time the experiments run (fields of ``resilience.load.LoadParams``).

    Unset optional fields keep LoadParams' defaults; the load always runs until the runner stops it.
    """

    profile: str = "steady"
    users: int = Field(default=20, ge=1, le=100_000)
    spawn_rate: float = Field(default=20.0, gt=0)
    rooms: int | None = Field(default=None, ge=1)
    room_size: int | None = Field(default=None, ge=1)
    think_time_s: float | None = Field(default=None, gt=0)
    message_bytes: int | None = Field(default=None, ge=1)
    rest_share: float | None = Field(default=None, ge=0, le=1)
    ack_timeout_s: float | None = Field(default=None, gt=0)
    connect_timeout_s: float | None = Field(default=None, gt=0)
    max_send_attempts: int | None = Field(default=None, ge=1)
    profile_options: dict[str, float] | None = None
    workers: int = Field(default=0, ge=0, le=64)
    """Locust worker processes (0: one standalone process)."""
    warmup_s: float = Field(default=5.0, ge=0, le=600)
    """Seconds of load before the first experiment starts."""

    def params(self) -> dict[str, Any]:
        """Keyword arguments for ``LoadParams``: the set fields, and no end (``duration_s: None``)."""
        skip = {"workers", "warmup_s"}
        chosen = {k: v for k, v in self.model_dump().items() if k not in skip and v is not None}
        return {**chosen, "duration_s": None}


class ExpectedAlert(_Model):
    """An alert the experiment's fault must raise, and how soon after the fault starts."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The alert's name (``alertname``, as in deploy/prometheus/*.yml)."""
    within_s: float = Field(gt=0, le=3600)
    """Seconds from the fault start by which Alertmanager must have notified it."""


class ExperimentPlan(_Model):
    """One experiment of a scenario and the targets it is judged against."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    file: str = Field(min_length=1)
    """Chaos Toolkit experiment file, relative to the scenario file's directory."""
    recovery_target_s: float = Field(gt=0, le=3600)
    """Seconds from fault start until the SLO must hold again for the stabilisation window."""
    stabilisation_s: float | None = Field(default=None, gt=0, le=600)
    slo: dict[str, Any] | None = None
    """Per-experiment SLO overrides (keys of Slo)."""
    pause_after_s: float = Field(default=0.0, ge=0, le=3600)
    """Pause after this experiment (game days: let people look at the dashboards)."""
    integrity: bool = True
    """Check that no acknowledged message was lost during this experiment."""
    expect_alerts: list[ExpectedAlert] = Field(default_factory=list)
    """Alerts that must fire; when given, alerting is part of the verdict (docs/monitoring.md)."""

    @model_validator(mode="after")
    def _slo_keys(self) -> ExperimentPlan:
        if self.slo:
            Slo().merged(self.slo)
        return self


class Scenario(_Model):
    """A game-day plan: target, load, SLOs and experiments in order."""

    name: str = Field(min_length=1)
    description: str = ""
    target: Literal["local", "kind", "staging"] = "local"
    targets: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Options per target, passed to ``get_target`` (kind/staging: context, namespace, allowed_contexts,
    allowed_namespaces, allow_production, endpoints, seed, ...: see resilience.targets.kube.options)."""
    load: LoadSpec = LoadSpec()
    slo: Slo = Slo()
    stabilisation_s: float = Field(default=5.0, gt=0, le=600)
    """Default stabilisation window: the SLO must hold this long, continuously, to count as recovered."""
    safeguards: dict[str, float] = Field(default_factory=lambda: {"error_rate": 0.9, "for_s": 20.0})
    """Hard limits: abort the run when the error rate stays above ``error_rate`` for ``for_s`` seconds."""
    error_budget: ErrorBudget = ErrorBudget()
    """The availability objective and its period; the report says what share of the period's budget each
    experiment used, and ``limit`` fails an experiment that used more."""
    experiments: list[ExperimentPlan] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        seen: set[str] = set()
        for plan in self.experiments:
            if plan.name in seen:
                raise ValueError(f"experiment name {plan.name!r} is used twice")
            seen.add(plan.name)
        unknown = set(self.safeguards) - {"error_rate", "for_s"}
        if unknown:
            raise ValueError(f"unknown safeguard keys {sorted(unknown)} (allowed: error_rate, for_s)")
        return self

    @model_validator(mode="after")
    def _target_names(self) -> Scenario:
        unknown = set(self.targets) - {"local", "kind", "staging"}
        if unknown:
            raise ValueError(f"targets: unknown target names {sorted(unknown)} (allowed: local, kind, staging)")
        return self

    def slo_for(self, plan: ExperimentPlan) -> Slo:
        """The scenario SLO with the experiment's overrides."""
        return self.slo.merged(plan.slo)

    def stabilisation_for(self, plan: ExperimentPlan) -> float:
        """The experiment's stabilisation window, or the scenario's."""
        return plan.stabilisation_s if plan.stabilisation_s is not None else self.stabilisation_s


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario and where it came from."""

    path: Path
    scenario: Scenario

    def experiment_path(self, plan: ExperimentPlan) -> Path:
        """The experiment file of ``plan``, resolved against the scenario file's directory."""
        p = Path(plan.file)
        return p if p.is_absolute() else (self.path.parent / p)


def validation_error(located: Located, errors: Sequence[ErrorDetails], *, skip: Collection[str] = ()) -> ConfigError:
    """The first of pydantic's ``errors`` as ``file:line: field: message`` (``skip``: union branch names)."""
    first = errors[0]
    loc = tuple(p for p in first["loc"] if isinstance(p, str | int) and p not in skip)
    msg = {"extra_forbidden": "unknown field", "missing": "required field is missing"}.get(first["type"], first["msg"])
    return located.error(loc, msg)


def load_mapping(path: Path | str, what: str) -> Located:
    """``load_yaml``, and a ConfigError unless the document is a mapping (``what``: "a scenario", ...)."""
    located = load_yaml(path)
    if not isinstance(located.data, dict):
        raise located.error((), f"{what} must be a YAML mapping")
    return located


def _check_load(located: Located, spec: LoadSpec) -> None:
    """Let the load's own model judge the load section (profile names and options)."""
    try:
        LoadParams(**spec.params())
    except (ConfigError, ValueError) as exc:
        raise located.error(("load",), str(exc).removeprefix("error: ")) from None


def load_scenario(path: Path | str, *, check_files: bool = True) -> LoadedScenario:
    """Parse and validate a scenario file; ConfigError ``file:line: field: message`` on the first problem."""
    located = load_mapping(path, "a scenario")
    try:
        scenario = Scenario.model_validate(located.data)
    except ValidationError as exc:
        raise validation_error(located, exc.errors()) from None
    loaded = LoadedScenario(located.path, scenario)
    _check_load(located, scenario.load)
    if check_files:
        for i, plan in enumerate(scenario.experiments):
            if not loaded.experiment_path(plan).is_file():
                raise located.error(("experiments", i, "file"), f"no such experiment file {plan.file!r}")
    return loaded
