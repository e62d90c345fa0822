"""Integrity probes: every acknowledged message is in the database, once, in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.analysis.integrity import check_integrity
from resilience.context import RunContext

__all__ = ["integrity_report", "no_acknowledged_message_lost"]


def integrity_report(since: float | None = None, configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The integrity counts (acked, lost, duplicated, out_of_order, ...) of the load's ledger."""
    context = RunContext.of(configuration)
    ledger_dir = context.folder("ledger_dir")
    postgres = context.target.endpoints().postgres
    report: dict[str, Any] = check_integrity(ledger_dir, postgres, since=since).to_json()
    return report


def no_acknowledged_message_lost(since: float | None = None, configuration: Mapping[str, Any] | None = None) -> bool:
    """True when no acknowledged message is missing or duplicated."""
    report = integrity_report(since, configuration)
    return int(report.get("lost", 0)) == 0 and int(report.get("duplicated", 0)) == 0
