"""Everything a report needs, gathered once: the run, each experiment's timeline, and what is missing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from resilience.errors import ConfigError
from resilience.report.events import RequestLatencies, find_events_dir, read_request_latencies
from resilience.report.model import Experiment, Run, contained, load_run
from resilience.report.series import Series, read_timeline
from resilience.report.text import slug

__all__ = ["ExperimentData", "ReportData", "collect", "experiment_requests"]

log = logging.getLogger(__name__)

_CONTEXT_BEFORE_S = 30.0
_CONTEXT_AFTER_S = 60.0


@dataclass(frozen=True)
class ExperimentData:
    """One experiment, its timeline (None when absent or unreadable) and notes on what is missing."""

    experiment: Experiment
    series: Series | None
    notes: tuple[str, ...]
    key: str = ""
    """Unique, file-name-safe id within the run (``pod-kill``, ``pod-kill-2`` for a repeat)."""
    server: Series | None = None
    """The server's view from Prometheus (``server_timeline.csv``: server_p95_ms, server_error_rate)."""


@dataclass(frozen=True)
class ReportData:
    """The run, its experiments with data, and run-level notes on what is missing."""

    run: Run
    experiments: tuple[ExperimentData, ...]
    notes: tuple[str, ...]
    requests: RequestLatencies | None = None
    """Every successful request of the run from the raw load events (None when the run folder has none)."""
    whole: ExperimentData | None = None
    """The run as one piece, for runs without experiments (load alone, capacity): run-level timeline,
    integrity and SLOs; None when the run has experiments."""


def _candidates(run: Run, exp: Experiment) -> list[Path]:
    names = [exp.dir] if exp.dir else []
    names += [n for n in (exp.name, slug(exp.name)) if n not in names]
    paths = [run.path / n / "timeline.csv" for n in names]
    return [p for p in paths if contained(run.path, p)]


def _slice(series: Series, exp: Experiment) -> Series:
    """The part of a run-level timeline around one experiment's fault."""
    if exp.fault_start is None:
        return series
    end = max(t for t in (exp.fault_end, exp.recovery_time, exp.fault_start) if t is not None)
    mask = (series.t >= exp.fault_start - _CONTEXT_BEFORE_S) & (series.t <= end + _CONTEXT_AFTER_S)
    return Series({k: v[mask] for k, v in series.columns.items()})


def _series(run: Run, exp: Experiment, shared: Series | None) -> tuple[Series | None, list[str]]:
    for path in _candidates(run, exp):
        if path.is_file():
            try:
                series = read_timeline(path)
            except ConfigError as exc:
                log.warning("run %s: %s", run.run_id, exc)
                return None, [f"timeline unreadable: {exc}"]
            return series, ([] if len(series) else [f"{path.relative_to(run.path)} has no rows"])
    if shared is not None:
        part = _slice(shared, exp)
        if len(part):
            return part, ["timeline taken from the run-level timeline.csv"]
    where = f"{exp.dir or slug(exp.name)}/timeline.csv"
    return None, [f"no {where}: timeline chart left out"]


def _missing_note(exp: Experiment) -> list[str]:
    if not exp.missing:
        return []
    return ["run.json does not record " + ", ".join(exp.missing)]


def _server(run: Run, exp: Experiment) -> Series | None:
    """The experiment's ``server_timeline.csv`` (None when absent or unreadable)."""
    path = run.path / (exp.dir or slug(exp.name)) / "server_timeline.csv"
    if not contained(run.path, path) or not path.is_file():
        return None
    try:
        series = read_timeline(path)
    except ConfigError as exc:
        log.warning("run %s: %s", run.run_id, exc)
        return None
    return series if len(series) else None


def _shared(run: Run) -> Series | None:
    path = run.path / "timeline.csv"
    if not path.is_file():
        return None
    try:
        return read_timeline(path)
    except ConfigError as exc:
        log.warning("run %s: %s", run.run_id, exc)
        return None


def collect(run_dir: Path | str) -> ReportData:
    """Load run.json and every timeline; ConfigError only when run.json itself is missing or malformed."""
    run = load_run(run_dir)
    shared = _shared(run)
    requests = _requests(run)
    experiments = []
    seen: dict[str, int] = {}
    for exp in run.experiments:
        if exp.verdict == "not_applicable":  # nothing ran: no timeline to miss
            reason = "NOT APPLICABLE on this target: " + "; ".join(exp.reasons)
            experiments.append(ExperimentData(exp, None, (reason,), slug(exp.name), None))
            continue
        series, notes = _series(run, exp, shared)
        if series is None and requests is None:
            notes.append("no raw load events either: latency chart left out")
        if series is not None and not np.isfinite(series.t).all():
            series, notes = None, [*notes, "timeline has intervals without a time"]
        base = slug(exp.name)
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base}-{seen[base]}"
        experiments.append(ExperimentData(exp, series, tuple(_missing_note(exp) + notes), key, _server(run, exp)))
    notes = []
    if run.missing:
        notes.append("run.json does not record " + ", ".join(run.missing))
    if not run.experiments and run.kind == "gameday":
        notes.append("no experiment was recorded (the run may have stopped before the first one)")
    whole = None if run.experiments else _whole(run, shared)
    return ReportData(run=run, experiments=tuple(experiments), notes=tuple(notes), requests=requests, whole=whole)


def _whole(run: Run, shared: Series | None) -> ExperimentData:
    exp = Experiment(
        name="whole run",
        verdict=run.verdict,
        integrity=run.integrity,
        slo=run.slo,
        started=run.started,
        ended=run.ended,
    )
    notes = () if shared is not None else ("no run-level timeline.csv: timeline chart left out",)
    return ExperimentData(exp, shared, notes, "run")


def _requests(run: Run) -> RequestLatencies | None:
    folder = find_events_dir(run.path, run.load)
    if folder is None:
        return None
    requests = read_request_latencies(folder)
    return requests if len(requests) else None


def experiment_requests(data: ReportData, item: ExperimentData) -> RequestLatencies | None:
    """The run's requests inside this experiment's window (run.json started/ended, else its timeline's span)."""
    if data.requests is None:
        return None
    exp, series = item.experiment, item.series
    start, end = exp.started, exp.ended
    if (start is None or end is None) and series is not None and len(series):
        resolution = series.resolution_s() or 0.0
        start, end = float(series.t[0]), float(series.t[-1]) + resolution
    if start is None or end is None:
        return None
    part = data.requests.window(start, end)
    return part if len(part) else None
