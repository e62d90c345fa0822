"""``resilience run SCENARIO``: run a game day (see resilience.runner.scenario_run)."""

from __future__ import annotations

from pathlib import Path

import click

from resilience.commands._target_options import run_folder_options

__all__ = ["command"]


@click.command("run")
@click.argument("scenario", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--target", type=click.Choice(["local", "kind", "staging"]), help="Override the scenario's target.")
@click.option("--only", multiple=True, metavar="NAME", help="Run only this experiment (repeatable).")
@click.option("--dry-run", is_flag=True, help="Validate and print the plan; touch nothing.")
@run_folder_options
def command(
    *,
    scenario: Path,
    target: str | None,
    only: tuple[str, ...],
    dry_run: bool,
    results_dir: Path,
    state_dir: Path | None,
    teardown: bool,
) -> int:
    """Run SCENARIO's experiments in order under continuous load; verdicts, run.json and reports.

    \b
    Exit codes: 0 every hypothesis held and every recovery target was met; 1 a hypothesis deviated,
    a recovery target was missed or integrity failed; 2 aborted or errored; 3 invalid input;
    130 interrupted.
    """
    from resilience.runner.plan import RunOptions, prepare  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.runner.scenario_run import run_scenario  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    opts = RunOptions(
        scenario=scenario,
        target=target,
        only=only,
        dry_run=dry_run,
        results_dir=results_dir,
        state_dir=state_dir,
        teardown=teardown,
    )
    plan = prepare(opts)  # validated once; invalid input fails before anything is locked
    if dry_run:
        return run_scenario(plan, opts)
    from resilience.runner.cleanup import exclusive_run  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.safety.fault_store import state_dir_for  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    options = plan.loaded.scenario.targets.get(plan.target, {})
    where = state_dir_for(plan.target, state_dir or options.get("state_dir"))
    with exclusive_run(where, results_dir, say=lambda line: click.echo(line, err=True)):
        return run_scenario(plan, opts)
