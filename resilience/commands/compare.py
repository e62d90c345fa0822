"""``resilience compare RUN_A RUN_B``: what regressed or improved from run A to run B, with one verdict."""

from __future__ import annotations

from pathlib import Path

import click

from resilience.errors import EXIT_FAILED, EXIT_OK

__all__ = ["command"]


@click.command(name="compare")
@click.argument("run_a", type=click.Path(path_type=Path, file_okay=False))
@click.argument("run_b", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 10),
    default=10.0,
    show_default=True,
    help="Relative change (percent) below which a figure counts as unchanged.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the comparison to this file.",
)
def command(run_a: Path, run_b: Path, fmt: str, tolerance: float, output: Path | None) -> int:
    """Compare RUN_A (before) with RUN_B (after): recovery times, p95 (peak and steady state), errors, integrity.

    \b
    Exit codes: 0 nothing regressed, 1 something regressed, 3 invalid input.
    """
    from resilience.report.build import collect  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.report.compare import (  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
        Tolerances,
        compare_reports,
        render_comparison,
    )

    first, second = collect(run_a), collect(run_b)
    comparison = compare_reports(first, second, Tolerances(relative=tolerance / 100))
    text = render_comparison(comparison, fmt)
    if output is not None:
        output.write_text(text, encoding="utf-8")
    click.echo(text, nl=False)
    return EXIT_FAILED if comparison.verdict == "regressed" else EXIT_OK
