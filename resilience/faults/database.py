"""Database faults: failover by primary crash, HA-agent (Patroni) crash, or planned switchover."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.context import RunContext
from resilience.errors import ConfigError
from resilience.faults.ledger import Fault, fault_ledger
from resilience.targets.base import FailoverMode

__all__ = ["crash_patroni", "crash_primary", "fail_over_db", "kill_primary_postmaster", "switchover_db"]


def fail_over_db(mode: str = "primary-crash", configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Provoke a database failover (``primary-crash``, ``postmaster-kill``, ``patroni-crash`` or ``switchover``).

    Returns the old primary. The HA manager heals the cluster itself: nothing to revert; the old primary
    rejoins as a replica.
    """
    try:
        failover_mode = FailoverMode(mode)
    except ValueError:
        choices = ", ".join(m.value for m in FailoverMode)
        raise ConfigError(f"unknown failover mode {mode!r} (choose from {choices})") from None
    context = RunContext.of(configuration)
    target = context.target
    fault = Fault("instant", f"db-failover:{failover_mode.value}", {"mode": failover_mode.value})
    old = fault_ledger().apply_fault(target, fault, lambda: target.failover_db(failover_mode), out_dir=context.out_dir)
    return {"mode": failover_mode.value, "old_primary": old}


def crash_primary(configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The primary's database server dies at once, all its processes (a node loss); the HA manager
    promotes the synchronous replica."""
    return fail_over_db(FailoverMode.PRIMARY_CRASH.value, configuration)


def kill_primary_postmaster(configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """SIGKILL the primary's postmaster alone (its children outlive it until they notice): harsher than
    a node loss; the node's supervision must clear the leftovers before PostgreSQL can start again."""
    return fail_over_db(FailoverMode.POSTMASTER_KILL.value, configuration)


def crash_patroni(configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """SIGKILL the primary's Patroni agent; failover once the leader key expires."""
    return fail_over_db(FailoverMode.PATRONI_CRASH.value, configuration)


def switchover_db(configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A planned switchover to the synchronous replica."""
    return fail_over_db(FailoverMode.SWITCHOVER.value, configuration)
