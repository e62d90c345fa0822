"""``resilience cleanup``: revert every fault in the target's ledger and verify the target is clean."""

from __future__ import annotations

import json
from pathlib import Path

import click

from resilience.commands._target_options import open_target, target_options
from resilience.errors import EXIT_ABORTED

__all__ = ["command"]


@click.command("cleanup")
@target_options
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds to wait for replicas and the database to heal before judging.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of lines.")
def command(target_name: str, state_dir: Path | None, timeout_s: float, as_json: bool) -> int:
    """Revert whatever the fault ledger holds (after a crash, kill -9 or power loss), mark a dead run's
    results interrupted, and verify the target: no toxics, every proxy enabled, replicas and release
    restored, a database leader with a sync replica.

    \b
    Exit codes: 0 clean; 2 something could not be reverted or a check failed; 3 invalid input.
    """
    from resilience.runner.cleanup import cleanup  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.safety.fault_store import state_dir_for  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    target = open_target(target_name, state_dir)
    say = (lambda _line: None) if as_json else click.echo
    report = cleanup(target, state_dir_for(target_name, state_dir), timeout_s=timeout_s, say=say)
    if as_json:
        click.echo(json.dumps(report.to_json()))
    else:
        for error in report.errors:
            click.echo(f"FAIL {error}")
        click.echo(f"{target_name} target {'clean' if report.clean else 'NOT clean'} ({report.seconds:.1f} s)")
    return 0 if report.clean else EXIT_ABORTED
