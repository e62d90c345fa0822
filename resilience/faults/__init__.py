"""Chaos Toolkit actions that inject faults into any Target: pods, network, database, release.

Every fault goes through one function pair, ``FaultLedger.apply_fault`` / ``revert_fault``
(``resilience.faults._ledger``): the fault is recorded with an idempotent revert before it is applied.
``revert_all_faults`` is the rollback every experiment declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.faults import database, network, pods, release
from resilience.faults._ledger import ledger

__all__ = ["revert_all_faults"]

_MODULES = (database, network, pods, release)


def revert_all_faults(configuration: Mapping[str, Any] | None = None) -> list[str]:
    """Revert every fault this process applied and has not reverted yet; return their keys. Idempotent."""
    return ledger.revert_all()
