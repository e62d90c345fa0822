"""summary.md: the run in a few lines and one table, for CI step summaries ($GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import re

from resilience.report.alerts import alert_rows
from resilience.report.build import ReportData
from resilience.report.deploys import deploy_rows
from resilience.report.text import (
    budget_total_line,
    budget_word,
    fmt_ms,
    fmt_pct,
    fmt_s,
    hypothesis_word,
    integrity_short,
    load_line,
    recovery_word,
)

__all__ = ["render_summary"]

_ICONS = {
    "passed": "✅",
    "failed": "❌",
    "aborted": "🛑",
    "interrupted": "⏸️",
    "inconclusive": "❔",
    "not_applicable": "⚪",
}


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
"""Characters that start emphasis, code, links/images, HTML, table cells or strike-through anywhere in a
line (the others - ``#``, ``-``, ``+`` - act only at a line start, where run.json text never lands)."""


def _md(text: str) -> str:
    """``text`` (from run.json: names, reasons, errors) as inert Markdown for CI step summaries: every
    character Markdown or HTML could act on is backslash-escaped, line breaks become spaces."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _code(text: str) -> str:
    """``text`` inside a code span: backticks and line breaks cannot end it early."""
    return " ".join(str(text).replace("`", "'").split()) or "—"


def _cell(text: str) -> str:
    return _md(text)


def _alerts_table(data: ReportData) -> list[str]:
    """The alerts table: name, expected, within, fired, resolved, verdict (seconds from the fault start)."""
    rows = alert_rows([i.experiment for i in data.experiments])
    if not rows:
        return []
    lines = [
        "**Alerts** (seconds from the fault start)",
        "",
        "| Experiment | Alert | Expected | Within | Fired | Resolved | Verdict |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for a in rows:
        mark = "" if not a.expected else "✅ " if a.css == "good" else "❌ "
        cells = [a.experiment, a.name, "yes" if a.expected else "no", fmt_s(a.within_s), fmt_s(a.fired_s)]
        cells.append(fmt_s(a.resolved_s))
        lines.append("| " + " | ".join(_cell(c) for c in cells) + f" | {mark}{_md(a.verdict)} |")
    return [*lines, ""]


def render_summary(data: ReportData) -> str:
    """Markdown: heading with the verdict, run facts, a verdict table, missing-data notes."""
    run = data.run
    icon = _ICONS.get(run.verdict, "❔")
    lines = [
        f"## {icon} Resilience run `{_code(run.run_id)}`: {_md(run.verdict.upper())}",
        "",
        f"Scenario `{_code(run.scenario or '—')}` on target `{_code(run.target or '—')}`, {fmt_s(run.duration_s)}; "
        f"load: {_md(load_line(run.load))}.",
        "",
    ]
    if data.experiments:
        lines += [
            "| Experiment | Verdict | Hypothesis before / after | Detected | Recovery vs target | Peak p95 "
            "| Error rate | Error budget used | Integrity |",
            "|---|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for item in data.experiments:
            e = item.experiment
            cells = [
                e.name,
                f"{_ICONS.get(e.verdict, '❔')} {e.verdict}",
                f"{hypothesis_word(e.hypothesis_before)} / {hypothesis_word(e.hypothesis_after)}",
                fmt_s(e.detect_s),
                recovery_word(e),
                fmt_ms(e.peak_p95_ms),
                fmt_pct(e.error_rate),
                budget_word(e),
                integrity_short(e),
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
        if total := budget_total_line([i.experiment for i in data.experiments]):
            lines += [_md(total), ""]
    lines += _alerts_table(data)
    lines += _deploys_table(data)
    why = [
        f"- **{_md(i.experiment.name)}** ({_md(i.experiment.verdict)}): {_md('; '.join(i.experiment.reasons))}"
        for i in data.experiments
        if i.experiment.verdict != "passed" and i.experiment.reasons
    ]
    if why:
        lines += [*why, ""]
    if run.errors or run.interrupted_by:
        problems = ([f"interrupted by {run.interrupted_by}"] if run.interrupted_by else []) + list(run.errors)
        lines += ["**Run problems**", "", *[f"- {_cell(p)}" for p in problems], ""]
    if data.whole is not None and data.run.integrity is not None:
        lines += [f"Integrity (whole run): {_md(integrity_short(data.whole.experiment))}.", ""]
    notes = list(data.notes) + [f"{i.experiment.name}: {n}" for i in data.experiments for n in i.notes]
    if notes:
        lines += ["**Missing data**", "", *[f"- {_cell(n)}" for n in notes], ""]
    lines.append("Full report with charts: `report.html` in the run folder.")
    return "\n".join(lines) + "\n"


def _deploys_table(data: ReportData) -> list[str]:
    """The deploys of every experiment: strategy, outcome, failed requests, time to switch and to roll back."""
    deploys = deploy_rows([i.experiment for i in data.experiments])
    if not deploys:
        return []
    lines = [
        "| Deploy | Strategy | Release | Outcome | Rolled back by | Failed requests | Peak p95 | Switched"
        " | Time to roll back |",
        "|---|---|---|---|---|---:|---:|---:|---:|",
    ]
    for d in deploys:
        cells = [
            d.experiment,
            d.strategy,
            f"{d.previous or '?'} → {d.release}",
            f"{'✅' if d.ok else '❌'} {d.outcome}",
            d.rolled_back_by or "—",
            str(d.failed_requests),
            ("" if d.slo_kept else "❌ ") + fmt_ms(d.peak_p95_ms),
            fmt_s(d.switch_s),
            fmt_s(d.rollback_s),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return [*lines, ""]
