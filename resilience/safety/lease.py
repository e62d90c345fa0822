"""The dead-man switch, harness side: leases on faults, renewed while the harness lives.

Every toxic and every proxy-down fault the harness applies carries a lease (the fault proxy's
``X-Netfault-Lease-Seconds`` header, which a real Toxiproxy ignores); a keeper thread renews the leases of
active faults every third of the lease. If the harness dies (``kill -9``, OOM, power loss of the
harness host), the renewals stop and the fault proxy drops the faults on its own within one lease.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from resilience.errors import ConfigError

__all__ = ["DEFAULT_LEASE_S", "LEASE_ENV", "LeaseKeeper", "fault_lease_s", "renew_every_s"]

log = logging.getLogger(__name__)

LEASE_ENV = "RESILIENCE_FAULT_LEASE_S"
"""Environment variable: lease of every network fault in seconds (``0`` turns leases off)."""
DEFAULT_LEASE_S = 15.0
"""Long enough for a loaded machine to renew in time (renewals every 5 s), short enough for a game day."""


def fault_lease_s() -> float | None:
    """The lease of a fault in seconds, or None when leases are off (``RESILIENCE_FAULT_LEASE_S=0``)."""
    raw = os.environ.get(LEASE_ENV, "").strip()
    if not raw:
        return DEFAULT_LEASE_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{LEASE_ENV}={raw!r}: give the fault lease in seconds (0 turns leases off)")
    return value or None


def renew_every_s() -> float:
    """How often the keeper renews: a third of the lease (two renewals may fail before a fault expires)."""
    lease = fault_lease_s() or DEFAULT_LEASE_S
    return max(0.05, lease / 3)


class LeaseKeeper(threading.Thread):
    """Calls ``renew_all`` every ``every_s`` seconds for as long as the process lives."""

    def __init__(self, renew_all: Callable[[], None], *, every_s: float) -> None:
        super().__init__(name="resilience-lease-keeper", daemon=True)
        self.renew_all, self.every_s = renew_all, every_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            try:
                self.renew_all()
            except Exception:  # a keeper that dies lets every fault expire: log and keep renewing
                log.warning("lease renewal failed", exc_info=True)
