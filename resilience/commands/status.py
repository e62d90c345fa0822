"""``resilience status [--json]``: every component with labels, pid, health and restarts; the endpoints.

Exit code 0 when healthy, 1 when running but unhealthy, 2 when not running.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from resilience.commands._target_options import open_target, print_endpoints, target_options
from resilience.errors import EXIT_ABORTED, EXIT_FAILED
from resilience.targets.base import Status

__all__ = ["command"]


def _table(status: Status) -> Table:
    table = Table(title=f"{status.target} target: {'healthy' if status.healthy else 'UNHEALTHY'}", title_justify="left")
    for col in ("component", "labels", "pid", "health", "restarts"):
        table.add_column(col)
    for pod in status.components:
        labels = ",".join(f"{k}={v}" for k, v in pod.labels.items())
        health = "[green]healthy[/green]" if pod.ready else "[red]unhealthy[/red]"
        table.add_row(pod.name, labels, str(pod.pid or "-"), health, str(pod.restarts))
    return table


def _db_line(node: dict[str, Any]) -> str:
    role = "sync replica" if node.get("sync") else node.get("role", "?")
    lag = f", lag {node['lag_bytes']} B" if node.get("lag_bytes") is not None else ""
    return f"{node.get('name')} {role} ({node.get('state')}{lag})"


@click.command("status")
@target_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the JSON object of the status contract. Its endpoints are usable URLs, so they include the "
    "database and Redis passwords: do not paste or store it (runs never write it to results/).",
)
@click.pass_context
def command(ctx: click.Context, target_name: str, state_dir: Path | None, as_json: bool) -> None:
    """Show each component, its labels (PostgreSQL with its role), pid, health and restarts.

    The table masks passwords in URLs; ``--json`` prints them in full (the endpoints must be usable).
    """
    target = open_target(target_name, state_dir)
    if not target.is_up():
        if as_json:
            click.echo(
                json.dumps(
                    {"target": target_name, "healthy": False, "running": False, "components": [], "endpoints": None}
                )
            )
            ctx.exit(EXIT_ABORTED)
        target.status()  # raises the precise reason: not running, or stale state of a crashed run
    status = target.status()
    if as_json:
        click.echo(json.dumps({**status.to_json(), "running": True}, indent=2))
    else:
        Console(highlight=False).print(_table(status))
        if status.extra.get("db"):
            click.echo("postgres: " + ", ".join(_db_line(n) for n in status.extra["db"]))
        if status.endpoints:
            click.echo("endpoints:")
            print_endpoints(status.endpoints)
    if not status.healthy:
        ctx.exit(EXIT_FAILED)
