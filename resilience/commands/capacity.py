"""``resilience capacity SCENARIO``: the knee per condition (see resilience.capacity.session)."""

from __future__ import annotations

from pathlib import Path

import click

from resilience.commands._target_options import run_folder_options

__all__ = ["command"]


@click.command("capacity")
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--target", type=click.Choice(["local", "kind", "staging"]), help="Override the plan's target.")
@click.option("--only", multiple=True, metavar="CONDITION", help="Run only this condition (repeatable).")
@click.option("--repeats", type=click.IntRange(1, 50), help="Override the plan's repeats.")
@click.option("--budget", "budget_s", type=click.FloatRange(min=1), metavar="SECONDS", help="Override the time budget.")
@click.option("--dry-run", is_flag=True, help="Validate and print the plan with its time estimate; touch nothing.")
@run_folder_options
def command(
    *,
    scenario: Path,
    target: str | None,
    only: tuple[str, ...],
    repeats: int | None,
    budget_s: float | None,
    dry_run: bool,
    results_dir: Path,
    state_dir: Path | None,
    teardown: bool,
) -> int:
    """Step the load up under each condition of SCENARIO and find the knee: the most users at SLO.

    \b
    Writes results/<run-id>/capacity.json (knees with confidence intervals, headroom against the
    target users), run.json, charts and report.html. Exit codes: 0 done (also when the time budget
    cut it short: see capacity.json "status"); 2 aborted or errored; 3 invalid input; 130 interrupted.
    """
    from resilience.capacity.session import CapacityOptions, run_capacity_scenario  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    opts = CapacityOptions(
        scenario=scenario,
        target=target,
        only=only,
        repeats=repeats,
        budget_s=budget_s,
        dry_run=dry_run,
        results_dir=results_dir,
        state_dir=state_dir,
        teardown=teardown,
    )
    return run_capacity_scenario(opts)
