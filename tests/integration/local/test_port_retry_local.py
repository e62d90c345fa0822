"""A component that finds its planned port taken: the bring-up starts again with other ports.

A real stack of real processes and a real collision (a socket this test holds open on the port); the test only
steers which port the first plan gives Redis, since another stack taking a port between our plan and its bind
(what parallel test workers did, failing a whole module's bring-up) cannot be provoked on demand.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from resilience.targets.local import LocalTarget, bringup
from tests.support.local_stack import local_state_root

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_a_port_taken_at_start_up_is_planned_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis cannot bind the port of the first plan: the bring-up is torn down, planned with other ports and
    comes up; the progress names the port and says it tries again."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = int(holder.getsockname()[1])
    plans: list[dict[str, int]] = []
    allocate = bringup.allocate_ports

    def first_plan_collides(names: list[str], fixed: Any = None) -> dict[str, int]:
        ports = allocate(names, fixed)
        if not plans:
            ports["redis"] = taken
        plans.append(ports)
        return ports

    monkeypatch.setattr(bringup, "allocate_ports", first_plan_collides)
    said: list[str] = []
    with local_state_root("resilience-ports-") as root:
        target = LocalTarget(state_dir=root / "state", replicas=1)
        try:
            target.up(progress=said.append)
            assert target.is_up()
            assert len(plans) == 2
            assert target._state().ports["redis"] not in (taken, None)
            retry = [line for line in said if "again with other ports (attempt 2 of 3)" in line]
            assert retry and f"redis could not bind its port ({taken})" in retry[0]
        finally:
            target.down(purge=True)
            holder.close()
