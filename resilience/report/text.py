"""Words and numbers as the reports print them (shared by HTML, Markdown and JUnit)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from resilience.analysis.budget import format_share
from resilience.report.model import Experiment

__all__ = [
    "budget_class",
    "budget_line",
    "budget_total_line",
    "budget_word",
    "flatten",
    "fmt_count",
    "fmt_epoch",
    "fmt_ms",
    "fmt_pct",
    "fmt_s",
    "generator_line",
    "hypothesis_word",
    "integrity_line",
    "integrity_short",
    "load_line",
    "recovery_word",
    "slo_line",
    "slug",
]


def fmt_s(value: float | None) -> str:
    """Seconds with one decimal, or an em dash."""
    return "—" if value is None else f"{value:.1f} s"


def fmt_ms(value: float | None) -> str:
    """Milliseconds, no decimals above 10 ms."""
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def fmt_pct(fraction: float | None, digits: int = 2) -> str:
    """A fraction as a percentage (0.0123 -> ``1.23 %``)."""
    return "—" if fraction is None else f"{fraction * 100:.{digits}f} %"


def fmt_count(value: int | None) -> str:
    """A count with thousands separators."""
    return "—" if value is None else f"{value:,}"


def fmt_epoch(value: float | None) -> str:
    """Epoch seconds as UTC ISO time."""
    if value is None:
        return "—"
    return dt.datetime.fromtimestamp(value, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def hypothesis_word(held: bool | None) -> str:
    """held / deviated / not measured."""
    return "not measured" if held is None else "held" if held else "deviated"


def recovery_word(exp: Experiment) -> str:
    """``4.5 s of 30 s``, ``42.0 s of 30 s (late)``, ``not recovered``, ``not measured``."""
    met = exp.recovery_met
    target = f" of {exp.recovery_target_s:g} s" if exp.recovery_target_s is not None else ""
    if exp.recovery_s is None:
        return f"not recovered (target {exp.recovery_target_s:g} s)" if met is False else "not measured"
    return f"{exp.recovery_s:.1f} s{target}" + (" (late)" if met is False else "")


def slug(name: str) -> str:
    """A file-name-safe form of an experiment name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "experiment"


def _scalar(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_scalar(v) for v in value)
    return str(value)


def flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Nested mappings as (dotted key, printable value) rows, in insertion order."""
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        label = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows.extend(flatten(value, f"{label}."))
        else:
            rows.append((label, _scalar(value)))
    return rows


def integrity_line(exp: Experiment) -> str:
    """``5,234 acked · 0 lost · 0 duplicated · 0 out of order`` or ``not measured``."""
    i = exp.integrity
    if i is None:
        return "not measured"
    line = (
        f"{fmt_count(i.acked)} acked · {fmt_count(i.lost)} lost · {fmt_count(i.duplicated)} duplicated · "
        f"{fmt_count(i.out_of_order)} out of order"
    )
    for count, what in ((i.delivery_out_of_order, "pushed out of order"), (i.delivery_gaps, "skipped")):
        if count:
            line += f" · {count:,} {what}"
    if i.indeterminate:
        line += f" · {i.indeterminate:,} indeterminate"
    if i.delivery_ratio is not None:
        line += f" · {i.delivery_ratio * 100:.1f} % delivered to WebSocket clients"
    return line


def slo_line(exp: Experiment) -> str:
    """The SLOs an experiment was held to, in one line."""
    s = exp.slo
    parts = [
        f"p95 < {s.p95_ms:g} ms" if s.p95_ms is not None else "",
        f"p99 < {s.p99_ms:g} ms" if s.p99_ms is not None else "",
        f"errors < {s.error_rate * 100:g} %" if s.error_rate is not None else "",
        f"WebSocket connect ≥ {s.ws_connect_success * 100:g} %" if s.ws_connect_success is not None else "",
        f"throughput ≥ {s.throughput_min:g} req/s" if s.throughput_min is not None else "",
    ]
    return " · ".join(p for p in parts if p) or "not recorded"


def load_line(load: Mapping[str, Any]) -> str:
    """``100 users (peak 100 open) · 41,234 requests · 5,234 messages acknowledged (12.3/s) · generator: 3
    processes, CPU max 45 %, 2,100 open files max`` from run.json's ``load``."""
    labels = (("users", "users"), ("requests", "requests"), ("messages_acked", "messages acknowledged"))
    parts = [f"{load[k]:,} {label}" if isinstance(load.get(k), int) else "" for k, label in labels]
    if isinstance(load.get("users_peak"), int) and parts[0]:
        parts[0] += f" (peak {load['users_peak']:,} open)"
    if isinstance(load.get("messages_per_s"), int | float) and parts[2]:
        parts[2] += f" ({load['messages_per_s']:g}/s)"
    parts.append(generator_line(load.get("generator")))
    return " · ".join(p for p in parts if p) or "—"


def generator_line(gen: Any) -> str:
    """``generator: 3 processes, CPU max 45 %, 2,100 open files max, loop lag max 12 ms`` (+ ``SATURATED``)."""
    if not isinstance(gen, Mapping) or not gen.get("processes"):
        return ""
    text = (
        f"generator: {gen['processes']} processes, CPU max {gen.get('cpu_max') or 0:.0f} %, "
        f"{gen.get('fds_max') or 0:,} open files max, loop lag max {gen.get('lag_max_ms') or 0:.0f} ms"
    )
    return text + (" — SATURATED (inconclusive)" if gen.get("saturated") else "")


def integrity_short(exp: Experiment) -> str:
    """``clean (5,234 acked)``, ``2 lost, 1 duplicated, 3 pushed out of order`` or ``not measured``."""
    i = exp.integrity
    if i is None or i.ok is None:
        return "not measured"
    if i.ok:
        return f"clean ({fmt_count(i.acked)} acked)"
    parts = [
        (i.lost, "lost"),
        (i.duplicated, "duplicated"),
        (i.out_of_order, "out of order"),
        (i.delivery_out_of_order or 0, "pushed out of order"),
        (i.delivery_gaps or 0, "skipped"),
    ]
    return ", ".join(f"{n:,} {word}" for n, word in parts if n)


def budget_word(exp: Experiment) -> str:
    """The share of the period's error budget the experiment used (``0.0042 %``), or an em dash."""
    return "—" if exp.error_budget is None else format_share(exp.error_budget.share)


def budget_class(exp: Experiment) -> str:
    """``bad`` only when the share is above the scenario's limit (which fails the verdict), else nothing."""
    b = exp.error_budget
    return "bad" if b is not None and b.limit is not None and b.share > b.limit else ""


def _objective(availability: float, period_days: float) -> str:
    allowed_s = (1 - availability) * period_days * 86400
    return f"{availability * 100:g} % over {period_days:g} days = {allowed_s / 60:.1f} min of full outage"


def budget_line(exp: Experiment) -> str:
    """What the experiment used of the budget, with the objective it is a share of."""
    b = exp.error_budget
    if b is None:
        return "—"
    limit = f", limit {format_share(b.limit)}" if b.limit is not None else ", no limit set"
    return (
        f"{format_share(b.share)} of the budget ({_objective(b.availability, b.period_days)}): "
        f"{b.failed} failed of {b.requests} requests, {b.outage_s:.1f} s of full outage at {b.rate_rps:g} req/s"
        f"{limit}"
    )


def budget_total_line(experiments: Sequence[Experiment]) -> str | None:
    """The whole run's use of the budget (the sum over its experiments), None when no experiment has one."""
    uses = [e.error_budget for e in experiments if e.error_budget is not None]
    if not uses:
        return None
    over = [e.name for e in experiments if budget_class(e) == "bad"]
    total = sum(u.share for u in uses)
    outage = sum(u.outage_s for u in uses)
    tail = f"; over the limit: {', '.join(over)}" if over else ""
    return (
        f"Error budget ({_objective(uses[0].availability, uses[0].period_days)}): the experiments used "
        f"{format_share(total)} of it ({outage:.1f} s of full outage){tail}."
    )
