"""``resilience netfault``: run the Toxiproxy-API fault proxy in the foreground."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.command("netfault")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the HTTP API.")
@click.option(
    "--port",
    default=8474,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the HTTP API (0: any free port, printed on start).",
)
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON array of proxies to create at start (the /populate body).",
)
@click.option(
    "--listen-any",
    is_flag=True,
    help="Let a proxy's wildcard listen address (0.0.0.0, ::, empty) bind every interface; default: 127.0.0.1.",
)
def command(host: str, port: int, config: Path | None, listen_any: bool) -> None:
    """Serve a fault-injecting TCP proxy speaking Toxiproxy's HTTP API until SIGINT/SIGTERM.

    The API has no authentication (as Toxiproxy's): anyone who can reach --host:--port can cut or slow
    every proxied connection. Keep --host on loopback unless a network policy limits who reaches it.
    """
    from resilience.netfault.server import run  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    run(host, port, config, listen_any=listen_any)
