"""``resilience validate FILE...``: check scenarios and Chaos Toolkit experiments without running them."""

from __future__ import annotations

from pathlib import Path

import click

from resilience.errors import ConfigError

__all__ = ["command", "validate_file"]


def validate_file(path: Path) -> str:
    """Validate a game-day scenario, a capacity plan or an experiment (told apart by their keys).

    A one-line summary, or ConfigError naming file, line and field.
    """
    from resilience.runner.experiments import validate_experiment  # noqa: PLC0415 - CLI start-up: loaded only when the command runs
    from resilience.scenario import load_scenario, load_yaml  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    data = load_yaml(path).data
    if isinstance(data, dict) and "experiments" in data:
        loaded = load_scenario(path)
        for plan in loaded.scenario.experiments:
            validate_experiment(loaded.experiment_path(plan))
        return f"{path}: scenario {loaded.scenario.name!r}, {len(loaded.scenario.experiments)} experiments, valid"
    capacity_keys = ("steps", "search", "conditions")
    if isinstance(data, dict) and any(k in data for k in capacity_keys) and "method" not in data:
        from resilience.capacity.plan import load_capacity_plan  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

        capacity = load_capacity_plan(path).plan
        return f"{path}: capacity plan {capacity.name!r}, valid"
    experiment = validate_experiment(path)
    return f"{path}: experiment {experiment['title']!r}, valid"


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
def command(files: tuple[Path, ...]) -> None:
    """Check scenarios and experiments; errors name file, line and field."""
    errors: list[str] = []
    for path in files:
        try:
            click.echo(validate_file(path))
        except ConfigError as exc:
            errors.append(str(exc))
            click.echo(f"error: {exc}", err=True)
    if errors:
        raise click.exceptions.Exit(3)
