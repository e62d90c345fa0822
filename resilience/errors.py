"""The one exception tree of the harness.

Every error a user can cause or meet is a ``ResilienceError``; the CLI prints it as one line and exits
with its ``exit_code``. Foreign exceptions (psycopg, requests, kubernetes ApiException, ...) are mapped
at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations

__all__ = [
    "EXIT_ABORTED",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_OK",
    "ConfigError",
    "FaultError",
    "LoadError",
    "ProbeError",
    "ResilienceError",
    "TargetError",
]

EXIT_OK = 0
"""Every hypothesis held and every recovery target was met."""
EXIT_FAILED = 1
"""A hypothesis deviated, a recovery target was missed or integrity failed."""
EXIT_ABORTED = 2
"""Aborted (safeguard) or errored (target, fault or load failure)."""
EXIT_INVALID = 3
"""Invalid input: a malformed file, a wrong flag or value."""
EXIT_INTERRUPTED = 130
"""Interrupted by SIGINT or SIGTERM."""


class ResilienceError(Exception):
    """Root of every error the harness raises on purpose."""

    exit_code: int = EXIT_ABORTED


class ConfigError(ResilienceError):
    """Bad input: experiment, scenario, CLI argument. The message names file, line and field."""

    exit_code = EXIT_INVALID


class TargetError(ResilienceError):
    """The target cannot be reached, started, stopped or inspected."""


class PortTaken(TargetError):
    """A component could not bind the port planned for it: another process took it after it was picked
    (ports are free when planned and bound later by the component, so a parallel start can take one)."""


class FaultError(ResilienceError):
    """A fault could not be applied or reverted."""


class ProbeError(ResilienceError):
    """A probe could not measure what it was asked to."""


class LoadError(ResilienceError):
    """The load generator could not start, reach the target or report."""
