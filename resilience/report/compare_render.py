"""A ``Comparison`` as text for a terminal, Markdown for CI summaries, or JSON for tools."""

from __future__ import annotations

import json
from dataclasses import asdict

from resilience.report.compare import Change, Comparison

__all__ = ["FORMATS", "render_comparison"]

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
