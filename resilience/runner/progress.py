"""Live progress in the terminal (rich): one timestamped line per step, a verdict table at the end."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["Reporter"]

_STYLE = {
    "passed": "green",
    "failed": "red",
    "aborted": "magenta",
    "interrupted": "yellow",
    "inconclusive": "cyan",
    "not_applicable": "dim",
}


class Reporter:
    """Prints progress lines (the ``Progress`` callback) and the final table."""

    def __init__(self, console: Console | None = None, *, run_start: float | None = None) -> None:
        # CI logs are no terminal: do not squeeze the verdict table into 80 columns.
        self.console = console or Console(highlight=False, width=None if sys.stdout.isatty() else 160)
        self.run_start = run_start or time.time()

    def __call__(self, line: str) -> None:
        clock = time.time() - self.run_start
        self.console.print(f"[dim]{clock:7.1f}s[/dim] {line}", markup=True, highlight=False, soft_wrap=True)

    def verdict(self, name: str, verdict: str, reasons: Sequence[str]) -> None:
        style = _STYLE.get(verdict, "bold")
        self(
            f"[bold]{name}[/bold]: [{style}]{verdict.replace('_', ' ').upper()}[/{style}]"
            + (f" — {'; '.join(reasons)}" if reasons else "")
        )

    def table(self, run: Mapping[str, Any]) -> None:
        table = Table(title=f"run {run['run_id']}: {run['verdict'].upper()}", show_lines=False)
        for col in (
            "experiment",
            "verdict",
            "before",
            "during",
            "after",
            "detect s",
            "recovery s",
            "target s",
            "peak p95 ms",
            "lost",
        ):
            table.add_column(col)
        for e in run["experiments"]:
            hyp = e.get("hypothesis", {})
            integrity = e.get("integrity") or {}
            style = _STYLE.get(e["verdict"], "")
            table.add_row(
                e["name"],
                f"[{style}]{e['verdict']}[/{style}]",
                *(_b(hyp.get(k)) for k in ("before", "during", "after")),
                _f(e.get("detect_s")),
                _f(e.get("recovery_s")),
                _f(e.get("recovery_target_s")),
                _f(e.get("peak_p95_ms")),
                str(integrity.get("lost", "-")),
            )
        self.console.print(table)


def _b(value: Any) -> str:
    return {True: "held", False: "broke", None: "-"}.get(value, str(value))


def _f(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"
