"""Stopping a local stack by pid -- including what a crash left behind.

Order: every program through supervisord (Patroni with its stop signal KILL, so no agent starts a
failover on the way out), then supervisord, then each postmaster by the pid in its ``postmaster.pid``
with INT (fast shutdown). Whatever survives (postmasters orphaned by a killed Patroni, processes of a
run whose supervisord died) is found by pid -- ``data/pg-N/postmaster.pid`` and the ``RESILIENCE_STACK``
marker every process of this stack carries in its environment -- and stopped: TERM (INT for
postmasters), then KILL. Nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import time
from pathlib import Path

import psutil

from resilience.errors import TargetError
from resilience.targets.local.configs import STACK_ENV
from resilience.targets.local.layout import DB_NODES, Layout, StackState, scope_for
from resilience.targets.local.statedir import ensure_state_dir
from resilience.targets.local.supervisor import Supervisor, supervisord_alive

__all__ = ["held_ports", "postmaster_pid", "stack_processes", "tear_down"]

_ACTIVE = ("RUNNING", "STARTING", "STOPPING", "BACKOFF")


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in ``postmaster.pid`` if that process is alive and is a postmaster of ``data_dir``."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        cmd = proc.cmdline()
        return pid if cmd and "postgres" in Path(cmd[0]).name and str(data_dir) in " ".join(cmd) else None
    except (OSError, ValueError, psutil.Error):
        return None


def _sid(proc: psutil.Process) -> int | None:
    try:
        return os.getsid(proc.pid)
    except OSError:
        return None


def _live(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _marked(proc: psutil.Process, scope: str, root: str) -> bool:
    try:
        cwd = proc.cwd()
        in_root = cwd == root or cwd.startswith(root + "/")
        return (in_root or proc.environ().get(STACK_ENV) == scope) and _live(proc)
    except psutil.Error:
        return False


def stack_processes(root: Path, sid: int | None = None) -> list[psutil.Process]:
    """Live processes of the stack in state dir ``root``.

    A process belongs when it works inside ``root`` (every program runs in ``root/run``, a postmaster in
    its data dir), or carries the stack's marker in its environment, or shares supervisord's session
    ``sid`` -- once a process found the other ways confirms that session (a stale pid may be reused).
    Redis and PostgreSQL write their process titles over the environment block, hence the other ways.
    """
    me = os.getpid()
    scope, top = scope_for(root), str(root.resolve())
    procs = [p for p in psutil.process_iter() if p.pid != me]
    marked = [p for p in procs if _marked(p, scope, top)]
    if sid is None or not any(_sid(p) == sid for p in marked):
        return marked
    pids = {p.pid for p in marked}
    same_session = [p for p in procs if p.pid not in pids and _sid(p) == sid and _live(p)]
    return marked + same_session


def held_ports(ports: dict[str, int]) -> dict[str, int]:
    """Ports (name -> number) that something still listens on."""
    held: dict[str, int] = {}
    for name, port in ports.items():
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                held[name] = port
    return held


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _stop_supervised(sup: Supervisor, timeout: float) -> None:
    """Stop every program, then supervisord. Patroni's stop signal is KILL (no failover dance on the way
    out); its PostgreSQL is shut down afterwards by the pid in postmaster.pid."""
    for name, info in sup.processes().items():
        if info.state in _ACTIVE:
            with contextlib.suppress(TargetError):
                sup.stop(name, wait=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(i.state not in _ACTIVE for i in sup.processes().values()):
            break
        time.sleep(0.1)
    with contextlib.suppress(TargetError):
        sup.shutdown()


def _ppid(proc: psutil.Process) -> int | None:
    try:
        return proc.ppid()
    except psutil.Error:
        return None


def _kill(procs: list[psutil.Process], sig: int) -> None:
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.send_signal(sig)


def tear_down(layout: Layout, state: StackState | None, *, purge: bool = False, timeout: float = 20.0) -> None:
    """Stop everything of the stack in ``layout`` (running or crashed); ``purge`` deletes the state dir."""
    sup_pid = state.supervisord_pid if state else None
    if sup_pid is None and layout.supervisord_pid.exists():
        with contextlib.suppress(ValueError, OSError):
            sup_pid = int(layout.supervisord_pid.read_text().strip())
    if supervisord_alive(layout, sup_pid):
        sup = Supervisor(layout)
        if sup.ping():
            _stop_supervised(sup, timeout)
        assert sup_pid is not None
        with contextlib.suppress(psutil.Error):
            _wait_gone([psutil.Process(sup_pid)], 10)
    postmasters = [
        psutil.Process(pid) for node in DB_NODES if (pid := postmaster_pid(layout.pg_data(node))) is not None
    ]
    _kill(postmasters, signal.SIGINT)  # fast shutdown
    pm_pids = {p.pid for p in postmasters}
    # a postmaster's own children (backends, walsender...) go down with it
    leftovers = [p for p in stack_processes(layout.root, sup_pid) if p.pid not in pm_pids and _ppid(p) not in pm_pids]
    _kill(leftovers, signal.SIGTERM)
    alive = _wait_gone(postmasters + leftovers, 8)
    _kill(alive, signal.SIGKILL)
    alive = _wait_gone(alive, 5)
    if alive:
        raise TargetError(f"could not stop pids {', '.join(str(p.pid) for p in alive)} of the stack in {layout.root}")
    for path in (layout.supervisor_sock, layout.supervisord_pid, layout.state_file):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    if purge:
        ensure_state_dir(layout.root)  # never delete a folder 'up' did not make
        shutil.rmtree(layout.root, ignore_errors=True)
