"""Options shared by ``up``, ``down`` and ``status``: which target, and the local target's state dir."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from resilience.targets import TARGETS, get_target
from resilience.targets.base import Endpoints, Target

__all__ = ["masked", "open_target", "print_endpoints", "run_folder_options", "target_options"]

F = TypeVar("F", bound=Callable[..., Any])


def target_options(func: F) -> F:
    """``--target`` (default local) and ``--state-dir`` (local target; default $RESILIENCE_STATE_DIR or
    ./.state/local)."""
    func = click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="State directory of the local stack [default: $RESILIENCE_STATE_DIR or ./.state/local].",
    )(func)
    return click.option(
        "--target",
        "target_name",
        type=click.Choice(sorted(TARGETS)),
        default="local",
        show_default=True,
        help="Which target.",
    )(func)


def run_folder_options(func: F) -> F:
    """``--results-dir``, ``--state-dir`` (env RESILIENCE_STATE_DIR) and ``--teardown``: the options of
    the commands that write a run folder (``run``, ``capacity``)."""
    func = click.option("--teardown", is_flag=True, help="Bring the target down after the run.")(func)
    func = click.option(
        "--state-dir",
        type=click.Path(path_type=Path, file_okay=False),
        envvar="RESILIENCE_STATE_DIR",
        help="State folder of the local target [env RESILIENCE_STATE_DIR; default ./.state/local].",
    )(func)
    return click.option(
        "--results-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("results"), show_default=True
    )(func)


def open_target(target_name: str, state_dir: Path | None, **local: Any) -> Target:
    """The target; local-only options go to the local target alone."""
    if target_name == "local":
        return get_target("local", state_dir=state_dir, **local)
    return get_target(target_name)


def masked(url: str) -> str:
    """``scheme://user:secret@host`` -> ``scheme://user:***@host`` (for human output)."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    user = head.rsplit(":", 1)[0]
    return f"{user}:***@{tail}"


def print_endpoints(endpoints: Endpoints) -> None:
    """One endpoint a line, secrets masked (``resilience status --json`` shows the full URLs)."""
    for name, url in endpoints.to_json().items():
        if url is None:
            continue
        if isinstance(url, list):
            click.echo(f"  {name + ':':<14} {' '.join(url)}")
        else:
            click.echo(f"  {name + ':':<14} {masked(url)}")
