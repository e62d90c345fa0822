"""Load against the local stack (Patroni + PostgreSQL + HAProxy + Redis + chat): ``resilience load`` finds
the running target by itself, and the integrity checker catches a real loss of acknowledged messages
(asynchronous replication, a replication stall and a primary crash).

The loss test reaches into the local target's state files (ports, the Patroni API password, postmaster
pids) to switch Patroni to asynchronous mode and to stall the primary's WAL senders: that is the fault
being seeded, not something the harness offers as an action.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from resilience.analysis.integrity import check_integrity
from resilience.load import LoadParams, start_load
from resilience.load.message_ledger import read_ledger
from resilience.targets.local.layout import Layout, Secrets, StackState
from resilience.targets.local.target import LocalTarget
from resilience.targets.local.teardown import postmaster_pid
from tests.support.wait import acked as acked_so_far
from tests.support.wait import wait_acked

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(local_stack: LocalTarget) -> LocalTarget:
    """The session's local stack (2 chat replicas); the failover test gives it back healthy, sync mode on."""
    return local_stack


def test_cli_load_against_running_local_target(stack: LocalTarget, tmp_path: Path) -> None:
    """`resilience load` takes the chat URL, issuer secret and database from the running local target."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "resilience",
            "load",
            "--state-dir",
            str(stack.layout.root),
            "--users",
            "8",
            "--duration",
            "6",
            "--think-time",
            "0.5",
            "--workers",
            "1",
            "--slo",
            "p95_ms=2000",  # pins where the load goes, not the latency of a shared box
            "--results",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["target"] == "local"
    assert run["integrity"]["acked"] == run["load"]["messages_acked"] > 0
    assert run["integrity"]["lost"] == 0
    assert (run_dir / "timeline.csv").exists()
    assert run["load"]["ramp_s"] is not None and run["load"]["users_peak"] == 8
    assert 4.0 < run["load"]["held_s"] <= 6.0  # the 8 users held for the duration, after their ramp


def _set_sync_mode(target: LocalTarget, layout: Layout, sync: bool) -> None:
    """PATCH Patroni's dynamic configuration (retrying a 409 from a concurrent config change)."""
    port = StackState.load(layout.state_file).ports[f"{target.db_primary()}-api"]
    auth = ("patroni", Secrets.load_or_create(layout.secrets_file).patroni_api)
    deadline = time.monotonic() + 30
    while True:
        r = httpx.patch(f"http://127.0.0.1:{port}/config", json={"synchronous_mode": sync}, auth=auth, timeout=10)
        if r.status_code == 200:
            return
        assert time.monotonic() < deadline, f"Patroni refused the config change: {r.status_code} {r.text}"
        time.sleep(0.5)


def _wait_new_primary(target: LocalTarget, old: str) -> None:
    deadline = time.monotonic() + 60
    while not any(n.role == "primary" and n.name != old and n.state == "running" for n in target.db_nodes()):
        assert time.monotonic() < deadline, f"no replica took over from {old}"
        time.sleep(0.2)


def _rows(url: str) -> set[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM messages")}


def _wait_async(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        with psycopg.connect(url, autocommit=True) as conn:
            names = conn.execute("SHOW synchronous_standby_names").fetchone()
        if names is not None and names[0] == "":
            return
        assert time.monotonic() < deadline, "the primary still waits for a synchronous standby"
        time.sleep(0.2)


def test_checker_reports_exactly_the_rows_an_async_failover_lost(stack: LocalTarget, tmp_path: Path) -> None:
    """Acks given during a replication stall die with the primary; the checker lists exactly those rows."""
    layout = stack.layout
    endpoints = stack.endpoints()
    _set_sync_mode(stack, layout, False)
    _wait_async(endpoints.postgres)
    load = start_load(
        endpoints.chat,
        stack.issuer_secret(),
        LoadParams(users=16, duration_s=None, think_time_s=0.5, room_size=4),
        tmp_path / "load",
    )
    senders: list[psutil.Process] = []
    try:
        wait_acked(load.events_dir, 20)  # the load runs and its acks are on disk
        primary = stack.db_primary()
        postmaster = psutil.Process(postmaster_pid(layout.pg_data(primary)))
        senders = [c for c in postmaster.children() if "walsender" in " ".join(c.cmdline())]
        assert senders, "no WAL sender on the primary"
        for sender in senders:
            sender.suspend()  # replication stalls; asynchronous commits (and acks) go on
        wait_acked(load.events_dir, acked_so_far(load.events_dir) + 20)  # acks given during the stall
    finally:
        load.stop()
    on_primary = _rows(endpoints.postgres)
    for sender in senders:
        sender.kill()
    old = stack.failover_db()  # SIGKILL the primary's postmaster: a replica without the stalled WAL takes over
    _wait_new_primary(stack, old)  # before sync mode returns: it would leave no failover candidate
    _set_sync_mode(stack, layout, True)
    stack.wait_db_healthy(timeout=120)
    survived = _rows(endpoints.postgres)
    acked = {s.ack_ids[0] for s in read_ledger(load.ledger_dir).sends.values() if s.acked}
    truly_lost = (on_primary - survived) & acked  # rows whose ack never reached a client are not "acked"
    report = check_integrity(load.ledger_dir, endpoints.postgres)
    assert len(truly_lost) > 0, "the seeded fault lost nothing: the experiment did not stall replication"
    assert sorted(report.lost_ids) == sorted(truly_lost)
    assert report.lost == len(truly_lost)
    assert not report.ok
