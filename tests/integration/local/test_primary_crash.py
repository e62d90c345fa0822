"""Both primary-crash faults heal on the real stack: a node loss (``primary-crash``) and a postmaster
SIGKILL whose children survive it (``postmaster-kill``).

Before each crash a backend of the primary is busy in an endless loop: a child that does not notice the
postmaster's death and keeps its shared memory attached -- what kept the old primary from ever starting
again ("pre-existing shared memory block ... is still in use"). Each crash: a new leader, writes through
HAProxy resume, the old primary rejoins as a streaming replica under a new postmaster, the busy backend is
gone, no acknowledged write is lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psutil
import pytest

from resilience.targets.base import FailoverMode
from resilience.targets.local import LocalTarget
from resilience.targets.local.teardown import postmaster_pid
from resilience.targets.local.writeprobe import WriteProbe
from tests.support.local_stack import busy_backend, running_local_stack, save_logs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REJOIN_S = 60.0
"""The design bound for the old primary to stream again (issue 20); measured 1-10 s here."""
TOLERANCE_S = 30.0
"""Scheduling noise on a shared 2-core box: a bring-back runs initdb-free but pg_rewind + recovery, which
took up to 3x longer at load 10+ than idle."""
CRASHES = 2


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[LocalTarget]:
    """One real stack (1 chat replica: the database is what is crashed) for the module."""
    with running_local_stack(replicas=1, prefix="resilience-crash-") as target:
        failed_before = request.session.testsfailed
        yield target
        if request.session.testsfailed > failed_before:
            print(f"local stack logs kept in {save_logs(target, 'primary-crash')}")


@pytest.mark.parametrize("mode", [FailoverMode.PRIMARY_CRASH, FailoverMode.POSTMASTER_KILL], ids=str)
def test_primary_crash_heals_every_time(stack: LocalTarget, mode: FailoverMode) -> None:
    """Each crash: writes resume, the old primary rejoins within the bound, nothing of its dead server runs."""
    probe = WriteProbe(stack.endpoints().postgres).start()
    try:
        for _ in range(CRASHES):
            stack.wait_db_healthy(timeout=60)
            old = stack.db_primary()
            old_pid = postmaster_pid(stack.layout.pg_data(old))
            assert old_pid is not None
            with busy_backend(stack, old) as busy:
                t = time.time()
                assert stack.failover_db(mode) == old
                stack.wait_db_healthy(timeout=60)
                assert probe.wait_writes_after(t, timeout=30)
                node = stack.wait_db_rejoined(old, old_pid, timeout=REJOIN_S + TOLERANCE_S)
                assert node.role == "replica"
                assert not psutil.pid_exists(busy) or psutil.Process(busy).status() == psutil.STATUS_ZOMBIE
                if mode is FailoverMode.POSTMASTER_KILL:  # the survivor was killed by the node's supervision
                    log = stack.layout.log(old).read_text(errors="replace")
                    killed = [line for line in log.splitlines() if "killing leftovers of a dead postmaster" in line]
                    assert any(str(busy) in line.split(":")[-1].split() for line in killed), killed
    finally:
        probe.stop()
    assert probe.lost() == []
