"""``resilience report RUN_DIR``: regenerate every chart and report of a run folder from its raw data."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.command(name="report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
def command(run_dir: Path) -> None:
    """Write charts/*.png, report.html, summary.md and junit.xml into RUN_DIR from run.json and timelines."""
    from resilience.report import write_report  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    written = write_report(run_dir)
    for path in written:
        click.echo(str(path))
