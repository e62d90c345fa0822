"""supervisord, the local stand-in for the kubelet: launch it as a subreaper and talk to it over XML-RPC.

The client is supervisor's own (``supervisor.xmlrpc.SupervisorTransport`` over the unix socket in the
state dir); every call opens its own connection, so threads may call concurrently.
"""

from __future__ import annotations

import re
import subprocess
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
    log = layout.log("supervisord-stdout").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "resilience.targets.local.subreaper", str(layout.supervisord_conf)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
    )
    log.close()
    sup = Supervisor(layout)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise TargetError(f"supervisord exited with status {proc.returncode}: see {layout.log('supervisord')} "
                              f"and {layout.log('supervisord-stdout')}")
        if sup.ping():
            return proc.pid
        if time.monotonic() > deadline:
            proc.kill()
            raise TargetError(f"supervisord did not answer within {timeout:.0f} s: see {layout.log('supervisord')}")
        time.sleep(0.05)


class Supervisor:
    """A thin client of one supervisord's XML-RPC interface."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def _proxy(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.layout.supervisor_sock}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._proxy(), method)(*args)
        except xmlrpc.client.Fault as exc:
            raise TargetError(f"supervisord {method}{args}: {exc.faultString}") from exc
        except OSError as exc:
            raise TargetError(f"supervisord is not reachable at {self.layout.supervisor_sock}: {exc}") from exc

    def ping(self) -> bool:
        try:
            return bool(self._proxy().getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Error):
            return False

    def processes(self) -> dict[str, ProcInfo]:
        infos = self._call("getAllProcessInfo")
        return {i["name"]: ProcInfo(i["name"], i["statename"], i["pid"] or None, i.get("spawnerr", ""))
                for i in infos}

    def start(self, name: str, *, wait: bool = False) -> None:
        """Start ``name``; already running is fine."""
        try:
            self._proxy().startProcess(name, wait)
        except xmlrpc.client.Fault as exc:
            if "ALREADY_STARTED" not in exc.faultString:
                raise TargetError(f"supervisord cannot start {name}: {exc.faultString}: "
                                  f"see {self.layout.log(name)}") from exc
        except OSError as exc:
            raise TargetError(f"supervisord is not reachable at {self.layout.supervisor_sock}: {exc}") from exc

    def stop(self, name: str, *, wait: bool = True) -> None:
        """Stop ``name`` with its configured stop signal; not running is fine."""
        try:
            self._proxy().stopProcess(name, wait)
        except xmlrpc.client.Fault as exc:
            if "NOT_RUNNING" not in exc.faultString:
                raise TargetError(f"supervisord cannot stop {name}: {exc.faultString}") from exc
        except OSError as exc:
            raise TargetError(f"supervisord is not reachable at {self.layout.supervisor_sock}: {exc}") from exc

    def signal(self, name: str, sig: str) -> None:
        self._call("signalProcess", name, sig)

    def replace_program(self, name: str) -> None:
        """Re-read the config and recreate program ``name`` from it (new env), leaving it stopped."""
        self._call("reloadConfig")
        self.stop(name)
        self._call("removeProcessGroup", name)
        self._call("addProcessGroup", name)

    def shutdown(self) -> None:
        self._call("shutdown")

    def restarts(self) -> Counter[str]:
        """Unexpected exits (= restarts) per program since supervisord's log was started."""
        try:
            return count_restarts(self.layout.log("supervisord").read_text(errors="replace"))
        except OSError:
            return Counter()
