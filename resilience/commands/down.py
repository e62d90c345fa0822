"""``resilience down``: stop everything the target's ``up`` started (and what a crashed run left)."""

from __future__ import annotations

from pathlib import Path

import click

from resilience.commands._target_options import open_target, target_options

__all__ = ["command"]


@click.command("down")
@target_options
@click.option(
    "--purge",
    is_flag=True,
    help="Also delete the state dir (data, logs, secrets); only a dir 'up' made (it holds .resilience-state).",
)
def command(target_name: str, state_dir: Path | None, purge: bool) -> None:
    """Stop every process of the stack by pid, orphaned postmasters included; ``--purge`` deletes its data.

    Refuses (exit 3) a state dir that ``up`` did not make (a non-empty folder without its
    ``.resilience-state`` marker), and always ``/``, ``$HOME`` and the checkout root.
    """
    target = open_target(target_name, state_dir)
    was_up = target.is_up()
    target.down(purge=purge)
    what = "stopped" if was_up else "nothing was running; cleaned up"
    click.echo(f"{target_name} target {what}{' and purged' if purge else ''}")
