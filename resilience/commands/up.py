"""``resilience up``: bring the target to healthy with a progress display, then print its endpoints."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from resilience.commands._target_options import open_target, print_endpoints, target_options

__all__ = ["command"]


def _pairs(specs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep:
            raise click.BadParameter(f"{spec!r}: expected CHAT_X=VALUE", param_hint="--chat-env")
        out[key.strip()] = value
    return out


def _ports(specs: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not value.isdigit() or not 0 < int(value) < 65536:
            raise click.BadParameter(f"{spec!r}: expected NAME=PORT, e.g. haproxy-chat=8080", param_hint="--port")
        out[name.strip()] = int(value)
    return out


@click.command("up")
@target_options
@click.option(
    "--replicas", type=click.IntRange(1, 32), default=3, show_default=True, help="Chat replicas (local target)."
)
@click.option(
    "--users",
    type=click.IntRange(1, 1_000_000),
    default=10_000,
    show_default=True,
    help="Concurrent users to size the stack for (local: HAProxy processes and the fewest chat replicas).",
)
@click.option(
    "--port",
    "ports",
    multiple=True,
    metavar="NAME=PORT",
    help="Pin a port of the local stack, e.g. haproxy-chat=8080 (repeatable; default: free ports).",
)
@click.option(
    "--chat-env",
    "chat_env",
    multiple=True,
    metavar="CHAT_X=VALUE",
    help="Extra setting for every chat replica, e.g. CHAT_RATE_LIMIT=200 (repeatable; local target).",
)
def command(
    *,
    target_name: str,
    state_dir: Path | None,
    replicas: int,
    users: int,
    ports: tuple[str, ...],
    chat_env: tuple[str, ...],
) -> None:
    """Start the stack (local: etcd, Patroni x3, an HAProxy tier, Redis, fault proxy, Prometheus, chat) until
    healthy, sized for ``--users`` concurrent users (every process may hold 20,000 open files: one HAProxy
    process per 8,000 users plus one, sharing the chat port; at least one chat replica per 8,000 plus one).

    A second ``up`` says the stack is already running and prints its endpoints.
    """
    local = (
        {"replicas": replicas, "ports": _ports(ports), "chat_env": _pairs(chat_env), "users": users}
        if target_name == "local"
        else {}
    )
    target = open_target(target_name, state_dir, **local)
    if target.is_up():
        click.echo(f"{target_name} target already running ('resilience down' stops it); endpoints:")
        print_endpoints(target.endpoints())
        return
    console = Console(stderr=True, highlight=False)
    with console.status(f"bringing up the {target_name} target...") as spinner:

        def progress(line: str) -> None:
            console.print(
                f"  [green]✓[/green] {line}"
                if "healthy" in line or "started" in line or "created" in line
                else f"  {line}"
            )
            spinner.update(f"bringing up the {target_name} target... ({line})")

        endpoints = target.up(progress=progress)
    click.echo("endpoints:")
    print_endpoints(endpoints)
