"""The PostgreSQL cluster of the local stack: roles from Patroni, and the ways to fail it over."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import httpx
import psutil

from resilience.errors import TargetError
from resilience.targets.base import DbNode, FailoverMode
from resilience.targets.local.configs import PATRONI_TTL
from resilience.targets.local.layout import DB_NODES
from resilience.targets.local.teardown import postmaster_pid
from resilience.targets.local.view import StackView, db_routing_ok

__all__ = ["Database", "held_by", "kill_server"]


def kill_server(postmaster: int) -> list[int]:
    """SIGKILL a PostgreSQL server's whole process tree at once, as a node loss does; return the pids.

    Its children are not in the postmaster's process group or session (each calls ``setsid()``), so they
    are found as its descendants: the postmaster is stopped first (SIGSTOP: it forks nothing more and
    notices nothing), then every descendant and the postmaster get SIGKILL.
    """
    try:
        root = psutil.Process(postmaster)
        root.suspend()
        tree = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return []
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    return [p.pid for p in tree]


def held_by(view: StackView, node: str) -> str:
    """Why a node cannot start, when its logs say so: a dead server's processes hold its shared memory."""
    logs = [view.layout.log(node), *sorted((view.layout.logs / f"{node}-postgres").glob("*.log"))]
    for log in logs:
        with contextlib.suppress(OSError):
            tail = log.read_bytes()[-200_000:].decode(errors="replace")
            if "pre-existing shared memory block" in tail:
                return (
                    "; PostgreSQL refuses to start: 'pre-existing shared memory block ... is still in use' "
                    f"(processes of its dead server are alive), see {log}"
                )
    return f"; see {view.layout.log(node)}"


class Database:
    """Patroni-managed PostgreSQL nodes ``pg-1..3`` of one running stack."""

    def __init__(self, view: StackView) -> None:
        self.view = view

    def nodes(self) -> list[DbNode]:
        nodes = self.view.db_nodes()
        if nodes is None:
            raise TargetError(f"no Patroni agent answers on its REST API: see the pg-N logs in {self.view.layout.logs}")
        return nodes

    def primary(self) -> str:
        leaders = [n.name for n in self.nodes() if n.role == "primary" and n.state == "running"]
        if not leaders:
            raise TargetError("the PostgreSQL cluster has no running primary right now")
        return leaders[0]

    def failover(self, mode: FailoverMode) -> str:
        """Provoke a failover away from the current primary; return the primary's name."""
        primary = self.primary()
        if mode in (FailoverMode.PRIMARY_CRASH, FailoverMode.POSTMASTER_KILL):
            pid = postmaster_pid(self.view.layout.pg_data(primary))
            if pid is None:
                raise TargetError(f"no live postmaster for {primary} in {self.view.layout.pg_data(primary)}")
            if mode is FailoverMode.PRIMARY_CRASH:
                kill_server(pid)
            else:
                os.kill(pid, signal.SIGKILL)
        elif mode is FailoverMode.PATRONI_CRASH:
            # supervisord's stop signal for Patroni is KILL: a crash that the supervisor does not undo,
            # so the leader key expires after the TTL. The agent comes back once a new leader is elected.
            self.view.sup.stop(primary, wait=True)
            threading.Thread(
                target=self._revive_after_failover, args=(PATRONI_TTL * 3,), name=f"revive-{primary}", daemon=True
            ).start()
        else:
            self._switchover(primary)
        return primary

    def _switchover(self, primary: str) -> None:
        """Ask the leader's agent for a switchover to a synchronous replica of its own choosing.

        No candidate is named: a Patroni agent's REST view of the synchronous set can be a loop ahead of
        the leader's (a rejoined node shows as a quorum standby about a second before the leader's view
        lists it), and the leader refuses a named candidate that its own view does not hold synchronous.
        """
        if not any(n.sync and n.state in ("running", "streaming") for n in self.nodes()):
            raise TargetError("switchover impossible: no healthy synchronous replica")
        port = self.view.state.ports[f"{primary}-api"]
        try:
            r = httpx.post(
                f"http://127.0.0.1:{port}/switchover",
                json={"leader": primary},
                auth=("patroni", self.view.secrets.patroni_api),
                timeout=60,
            )
        except httpx.HTTPError as exc:
            raise TargetError(f"switchover request to {primary} failed: {exc}") from exc
        if r.status_code != 200:
            raise TargetError(f"switchover away from {primary} refused: {r.status_code} {r.text.strip()}")

    def _revive_after_failover(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.revive_stopped_agents():
                    return
            except TargetError:
                return  # the stack went down meanwhile
            time.sleep(0.5)

    def revive_stopped_agents(self) -> bool:
        """Start Patroni agents stopped by a patroni-crash once another node leads; True when none is left."""
        procs = self.view.sup.processes()
        stopped = [n for n in DB_NODES if procs.get(n) is not None and procs[n].state in ("STOPPED", "EXITED")]
        if not stopped:
            return True
        nodes = self.view.db_nodes()
        if nodes is None:
            return False
        # While a stopped agent still holds the leader key (until the TTL runs out), keep it down. After
        # that, start it even if nobody else took over: in synchronous mode nobody may, when the crash
        # came before a sync standby was named -- then the old primary reclaims the lead.
        if {n.name for n in nodes if n.role == "primary"} & set(stopped):
            return False
        for name in stopped:
            with contextlib.suppress(TargetError):
                self.view.sup.start(name)
        return True

    def wait_rejoined(self, node: str, old_postmaster: int, timeout: float) -> DbNode:
        """Wait until ``node`` (crashed while primary) is back as a streaming replica under a new postmaster;
        return it as Patroni sees it (``sync`` tells whether it is the synchronous one). A TargetError after
        ``timeout`` names what held it (e.g. shared memory still in use by a dead server's processes)."""
        deadline = time.monotonic() + timeout
        data = self.view.layout.pg_data(node)
        while True:
            pid = postmaster_pid(data)
            found = [n for n in self.view.db_nodes() or [] if n.name == node]
            back = found and found[0].role == "replica" and found[0].state in ("running", "streaming")
            if back and pid is not None and pid != old_postmaster:
                return found[0]
            if time.monotonic() > deadline:
                state = f"{found[0].role}/{found[0].state}" if found else "not reported by Patroni"
                raise TargetError(
                    f"{node} did not rejoin as a replica within {timeout:.0f} s ({state}){held_by(self.view, node)}"
                )
            time.sleep(0.1)

    def healthy(self) -> bool:
        """Routing is right (see ``db_routing_ok``) and the leader's agent and postmaster are really alive
        (the cluster view lags a crash: by a loop for a postmaster, by the TTL for an agent)."""
        nodes = self.view.db_nodes()
        if not db_routing_ok(nodes, self.view.haproxy()):
            return False
        leader = next(n.name for n in nodes or [] if n.role == "primary")
        agent = self.view.sup.processes().get(leader)
        return (
            agent is not None
            and agent.state == "RUNNING"
            and postmaster_pid(self.view.layout.pg_data(leader)) is not None
        )

    def wait_healthy(self, timeout: float) -> float:
        """Wait for a leader, a sync replica and HAProxy-RW routing to the leader alone; return seconds."""
        t0 = time.monotonic()
        while True:
            self.revive_stopped_agents()
            if self.healthy():
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise TargetError(
                    f"PostgreSQL not healthy (leader + sync replica + read-write routing) "
                    f"after {timeout:.0f} s: see {self.view.layout.logs}"
                )
            time.sleep(0.1)
