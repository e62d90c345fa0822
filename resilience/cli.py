"""The ``resilience`` command line.

The root group loads each subcommand lazily from ``resilience.commands.<module>`` so that ``--help``
stays fast and no subcommand's heavy imports (matplotlib, kubernetes, chaoslib) run for another.
Adding a command: write ``resilience/commands/<name>.py`` exposing a ``click.Command`` named ``command``
and list it in ``COMMANDS``.

Exit codes: 0 success, 1 a hypothesis deviated / a target was missed / integrity failed, 2 aborted or
errored, 3 invalid input (bad flag, bad file), 130 interrupted.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from resilience import __version__
from resilience.errors import EXIT_INTERRUPTED, EXIT_INVALID, ResilienceError

__all__ = ["COMMANDS", "main"]

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module under resilience.commands, one-line help)
    "capacity": ("capacity", "Find the knee (most users at SLO) per condition: healthy and under faults."),
    "cleanup": ("cleanup", "Revert every fault in the target's ledger (after a crash) and verify it is clean."),
    "compare": ("compare", "Compare two runs: what regressed or improved, with a verdict."),
    "down": ("down", "Stop the target's stack (every process, orphans included); --purge deletes its data."),
    "load": ("load", "Chat load alone against the running target: timeline + integrity under results/."),
    "netfault": ("netfault", "Run the fault proxy (Toxiproxy HTTP API)."),
    "report": ("report", "Regenerate charts, report.html, summary.md and junit.xml of a run folder."),
    "run": ("run", "Run a scenario's experiments under load; verdicts, run.json, reports."),
    "status": ("status", "Each component's labels, pid, health and restarts, and the endpoints (--json)."),
    "trend": ("trend", "Chart recovery, p95, errors and integrity over many runs (nightly view)."),
    "up": ("up", "Bring the target's stack up to healthy and print its endpoints."),
    "validate": ("validate", "Check scenarios and experiments; errors name file, line and field."),
}
"""Subcommand name -> (module in resilience.commands, short help shown by ``resilience --help``)."""


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"resilience.commands.{entry[0]}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in sorted(COMMANDS.items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="resilience")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Chaos-engineering and resilience test harness for the AGENT chat service.

    \b
    Exit codes: 0 passed, 1 failed (hypothesis, recovery target or integrity),
    2 aborted or errored, 3 invalid input, 130 interrupted.
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from resilience.safety.redact import install_logging_filter  # noqa: PLC0415 - CLI start-up: loaded only when the command runs

    install_logging_filter()  # no secret in a log line


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 - one return per exit code
    """Run the CLI; map every user-facing error to one line on stderr and a documented exit code."""
    nul = next((a for a in (sys.argv[1:] if argv is None else argv) if "\x00" in a), None)
    if nul is not None:
        click.echo(f"error: argument {nul!r} contains a NUL byte", err=True)
        return EXIT_INVALID
    try:
        rv = cli.main(args=argv, prog_name="resilience", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.UsageError as exc:
        hint = f" (see 'resilience {exc.ctx.command_path.split(' ', 1)[-1]} --help')" if exc.ctx else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        return EXIT_INVALID
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return EXIT_INVALID
    except ResilienceError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    return int(rv) if isinstance(rv, int) else 0


def _entry() -> None:  # pragma: no cover - console script shim
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
