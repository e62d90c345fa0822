"""``resilience validate FILE...``: check scenarios and Chaos Toolkit experiments without running them."""

from __future__ import annotations

from pathlib import Path

import click

from resilience.errors import ConfigError

__all__ = ["command", "validate_file"]


def validate_file(path: Path) -> str:
    """Validate one scenario or experiment (told apart by its keys); a one-line summary or ConfigError."""
    from resilience.runner.experiments import validate_experiment
    from resilience.scenario import load_scenario, load_yaml

    data = load_yaml(path).data
    if isinstance(data, dict) and "experiments" in data:
        loaded = load_scenario(path)
        for plan in loaded.scenario.experiments:
            validate_experiment(loaded.experiment_path(plan))
        return f"{path}: scenario {loaded.scenario.name!r}, {len(loaded.scenario.experiments)} experiments, valid"
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
