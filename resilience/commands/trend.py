"""``resilience trend RESULTS_DIR``: the nightly view over many runs, as a chart (trend.png) and a table;
prints each experiment's recovery spread (min/median/max) and how many runs it passed."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.command(name="trend")
@click.argument("results_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--last", type=click.IntRange(min=1), default=None, help="Only the N newest runs.")
@click.option("--all-kinds", is_flag=True, help="Also count load-only and capacity runs (default: game days only).")
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for trend.png and trend.md (default: RESULTS_DIR).",
)
def command(results_dir: Path, last: int | None, all_kinds: bool, out_dir: Path | None) -> None:
    """Chart recovery, peak p95, error rate and integrity over every run in RESULTS_DIR (one folder per run)."""
    from resilience.errors import ConfigError  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.report.charts import save_figure  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.report.trend import load_runs, spread_markdown, trend_figure, trend_markdown  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    runs, skipped = load_runs(results_dir, last=last, kinds=None if all_kinds else ("gameday",))
    capacity_runs, _ = load_runs(results_dir, last=last, kinds=("capacity",))  # their knees trend apart
    if not runs and not capacity_runs:
        raise ConfigError(f"{results_dir}: no readable run folder (*/run.json) found")
    out = out_dir or results_dir
    out.mkdir(parents=True, exist_ok=True)
    png = save_figure(trend_figure(runs), out / "trend.png")
    md = out / "trend.md"
    from resilience.report.trend import capacity_trend_figure, capacity_trend_markdown  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    md.write_text(trend_markdown(runs, skipped) + capacity_trend_markdown(capacity_runs), encoding="utf-8")
    capacity = capacity_trend_figure(capacity_runs)
    if capacity is not None:
        click.echo(str(save_figure(capacity, out / "capacity-trend.png")))
    for note in skipped:
        click.echo(f"warning: skipped {note}", err=True)
    if spread := spread_markdown(runs):
        click.echo(spread)
    click.echo(str(png))
    click.echo(str(md))
