"""Subcommands of the resilience CLI, one module each (see resilience.cli)."""
