"""supervisord, the local stand-in for the kubelet: launch it as a subreaper and talk to it over XML-RPC.

The client is supervisor's own (``supervisor.xmlrpc.SupervisorTransport`` over the unix socket in the
state dir); every call opens its own connection, so threads may call concurrently.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
import xmlrpc.client
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psutil
from supervisor.xmlrpc import SupervisorTransport

from resilience.errors import TargetError
from resilience.targets.local.layout import Layout

__all__ = ["ProcInfo", "Supervisor", "count_restarts", "launch_supervisord", "supervisord_alive"]

_EXITED_RE = re.compile(r" exited: (?P<name>\S+) \(.*; not expected\)$", re.MULTILINE)


@dataclass(frozen=True)
class ProcInfo:
    """A program as supervisord sees it."""

    name: str
    state: str
    """STOPPED, STARTING, RUNNING, BACKOFF, STOPPING, EXITED, FATAL, UNKNOWN."""
    pid: int | None
    spawnerr: str = ""


def count_restarts(log_text: str) -> Counter[str]:
    """Unexpected exits per program in a supervisord log (each one is followed by a restart)."""
    return Counter(m["name"] for m in _EXITED_RE.finditer(log_text))


def supervisord_alive(layout: Layout, pid: int | None) -> bool:
    """Whether ``pid`` is a live supervisord of this state dir (not a recycled pid)."""
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and str(layout.supervisord_conf) in proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def launch_supervisord(layout: Layout, timeout: float = 20.0) -> int:
    """Start supervisord (as a child subreaper, in its own session) and wait for its socket; return its pid."""
    # posix_spawn, not Popen: supervisord outlives this process, and a Popen object would warn about it.
    out = str(layout.log("supervisord-stdout"))
    pid = os.posix_spawn(
        sys.executable,
        [sys.executable, "-m", "resilience.targets.local.subreaper", str(layout.supervisord_conf)],
        os.environ,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    sup = Supervisor(layout)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            raise TargetError(
                f"supervisord exited ({os.waitstatus_to_exitcode(status)}): see {layout.log('supervisord')} and {out}"
            )
        if sup.ping():
            return pid
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TargetError(f"supervisord did not answer within {timeout:.0f} s: see {layout.log('supervisord')}")
        time.sleep(0.05)


class Supervisor:
    """A thin client of one supervisord's XML-RPC interface."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def _rpc(self, method: str, *args: Any) -> Any:
        """One XML-RPC call on its own connection (closed afterwards; the client is not thread-safe)."""
        transport = SupervisorTransport(None, None, f"unix://{self.layout.supervisor_sock}")
        try:
            proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
            return getattr(proxy.supervisor, method)(*args)
        finally:
            transport.close()

    def _call(self, method: str, *args: Any, ok: tuple[str, ...] = (), hint: str = "") -> Any:
        """``_rpc`` with errors mapped to TargetError; faults whose text contains one of ``ok`` pass."""
        try:
            return self._rpc(method, *args)
        except xmlrpc.client.Fault as exc:
            if any(code in exc.faultString for code in ok):
                return None
            raise TargetError(f"supervisord {method}{args}: {exc.faultString}{hint}") from exc
        except OSError as exc:
            raise TargetError(f"supervisord is not reachable at {self.layout.supervisor_sock}: {exc}") from exc

    def ping(self) -> bool:
        try:
            return bool(self._rpc("getState")["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Error):
            return False

    def processes(self) -> dict[str, ProcInfo]:
        infos = self._call("getAllProcessInfo")
        return {i["name"]: ProcInfo(i["name"], i["statename"], i["pid"] or None, i.get("spawnerr", "")) for i in infos}

    def start(self, name: str, *, wait: bool = False) -> None:
        """Start ``name``; already running is fine."""
        self._call("startProcess", name, wait, ok=("ALREADY_STARTED",), hint=f"; see {self.layout.log(name)}")

    def stop(self, name: str, *, wait: bool = True) -> None:
        """Stop ``name`` with its configured stop signal; not running is fine."""
        self._call("stopProcess", name, wait, ok=("NOT_RUNNING",))

    def signal(self, name: str, sig: str) -> None:
        self._call("signalProcess", name, sig)

    def replace_program(self, name: str) -> None:
        """Re-read the config and recreate program ``name`` from it (new env), leaving it stopped."""
        self._call("reloadConfig")
        self._call("stopProcess", name, True, ok=("NOT_RUNNING", "BAD_NAME"))  # BAD_NAME: a slot never run
        self._call("removeProcessGroup", name, ok=("BAD_NAME",))
        self._call("addProcessGroup", name)

    def shutdown(self) -> None:
        self._call("shutdown")

    def restarts(self) -> Counter[str]:
        """Unexpected exits (= restarts) per program since supervisord's log was started."""
        try:
            return count_restarts(self.layout.log("supervisord").read_text(errors="replace"))
        except OSError:
            return Counter()
