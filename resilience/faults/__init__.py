"""Chaos Toolkit actions that inject faults into any Target: pods, network, database, release.

Every fault goes through one function pair, ``FaultLedger.apply_fault`` / ``revert_fault``
(``resilience.faults.ledger``): the fault is recorded before it is applied, and its kind's idempotent
revert (``resilience.faults.kinds``) is known to every ledger. ``revert_all_faults`` is the rollback every
experiment declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.faults.ledger import fault_ledger

__all__ = ["revert_all_faults"]


def revert_all_faults(configuration: Mapping[str, Any] | None = None) -> list[str]:
    """Revert every fault this process applied and has not reverted yet; return their keys. Idempotent."""
    return fault_ledger().revert_all()
