"""report.html: one self-contained page (inline CSS, images as base64 data URIs, no script, no network)."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import jinja2

from resilience import __version__
from resilience.report.alerts import alert_rows
from resilience.report.build import ExperimentData, ReportData
from resilience.report.charts import failover_segments
from resilience.report.charts.failover import Segment
from resilience.report.deploys import deploy_rows
from resilience.report.model import Experiment
from resilience.report.render import Chart
from resilience.report.sections import Section
from resilience.report.text import (
    budget_class,
    budget_line,
    budget_total_line,
    budget_word,
    flatten,
    fmt_epoch,
    fmt_ms,
    fmt_pct,
    fmt_s,
    hypothesis_word,
    integrity_line,
    integrity_short,
    load_line,
    recovery_word,
    slo_line,
)

__all__ = ["render_html"]

_MAX_VIOLATIONS = 20


@dataclass(frozen=True)
class _Item:
    exp: Experiment
    anchor: str
    notes: tuple[str, ...]
    charts: tuple[Chart, ...]
    phases: tuple[Segment, ...]
    integrity: str
    integrity_short: str
    integrity_class: str
    slo_line: str
    fault_len: str
    violations: tuple[str, ...]
    more_violations: int


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _goodness(value: bool | None) -> str:
    return "none" if value is None else "good" if value else "bad"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("resilience.report", "."),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        epoch=fmt_epoch,
        seconds=fmt_s,
        ms=fmt_ms,
        pct=fmt_pct,
        budget=budget_word,
        budget_class=budget_class,
        budget_line=budget_line,
        hypothesis=hypothesis_word,
        recovery=recovery_word,
        goodness=_goodness,
        data_uri=_data_uri,
    )
    return env


def _integrity_class(exp: Experiment) -> str:
    i = exp.integrity
    if i is None or i.ok is None:
        return "none"
    return "good" if i.ok else "bad"


def _item(data: ExperimentData, charts: list[Chart]) -> _Item:
    exp = data.experiment
    violations = tuple(exp.integrity.violations) if exp.integrity is not None else ()
    length = None if exp.fault_start is None or exp.fault_end is None else exp.fault_end - exp.fault_start
    return _Item(
        exp=exp,
        anchor=data.key,
        notes=data.notes,
        charts=tuple(c for c in charts if c.experiment == data.key),
        phases=tuple(failover_segments(exp)),
        integrity=integrity_line(exp),
        integrity_short=integrity_short(exp),
        integrity_class=_integrity_class(exp),
        slo_line=slo_line(exp),
        fault_len=fmt_s(length),
        violations=violations[:_MAX_VIOLATIONS],
        more_violations=max(0, len(violations) - _MAX_VIOLATIONS),
    )


def render_html(data: ReportData, charts: list[Chart], sections: list[Section]) -> str:
    """The whole report page as a string."""
    run = data.run
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            run=run,
            run_dir=str(run.path),
            notes=data.notes,
            load_line=load_line(run.load),
            budget_total=budget_total_line([d.experiment for d in data.experiments]),
            experiments=[_item(d, charts) for d in data.experiments],
            alerts=alert_rows([d.experiment for d in data.experiments]),
            deploys=deploy_rows([d.experiment for d in data.experiments]),
            whole=_item(data.whole, charts) if data.whole is not None else None,
            overview=[c for c in charts if c.experiment is None],
            sections=sections,
            environment=flatten(run.environment),
            version=__version__,
            generated=dt.datetime.now(tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        )
    )
