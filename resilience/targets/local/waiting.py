"""Polling for components to become healthy, with fail-fast on crash loops and taken ports."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from resilience.errors import PortTaken, TargetError
from resilience.targets.base import Progress
from resilience.targets.local.layout import Layout, StackState, lb_stats_port_name
from resilience.targets.local.supervisor import Supervisor

__all__ = ["Waiter", "port_names_of", "port_taken", "startup_failure"]

_BIND_ERRORS = ("address already in use", "cannot bind socket", "could not bind", "eaddrinuse")
_MAX_CRASHES = 4
"""A program that exits this many times while we wait for it will not start."""


def port_names_of(component: str, ports: dict[str, int]) -> list[str]:
    """The names of the ports ``component`` listens on."""
    if component == "haproxy" or (component.startswith("haproxy-") and component[8:].isdigit()):
        own = lb_stats_port_name(component)
        return [n for n in ports if n in ("haproxy-rw", "haproxy-chat", own)]
    if component == "toxiproxy":
        return [n for n in ports if n == "toxiproxy" or n.startswith("proxy-")]
    return [n for n in ports if n in (component, f"{component}-api", f"{component}-peer")]


def port_taken(log_text: str) -> bool:
    """Whether a component's log ends with a failure to bind its port."""
    tail = log_text[-4000:].lower()
    return any(marker in tail for marker in _BIND_ERRORS)


def startup_failure(component: str, log_text: str, state: StackState, log_path: str) -> str:
    """The one-line error for a component that will not start: a taken port if its log says so."""
    if port_taken(log_text):
        ports = ", ".join(str(state.ports[n]) for n in port_names_of(component, state.ports))
        return f"{component} could not bind its port ({ports}): port taken by another process; see {log_path}"
    return f"{component} will not start: see {log_path}"


class Waiter:
    """Waits for named checks, reporting each success through ``progress`` with the time since ``t0``."""

    def __init__(self, layout: Layout, state: StackState, progress: Progress, t0: float) -> None:
        self.layout = layout
        self.state = state
        self.progress = progress
        self.t0 = t0
        self.sup = Supervisor(layout)
        self._crashes_before = self.sup.restarts()

    def until(self, checks: dict[str, Callable[[], bool]], *, timeout: float, watch: list[str]) -> None:
        """Poll ``checks`` until all pass; fail fast when a program in ``watch`` crash-loops."""
        pending = dict(checks)
        deadline = time.monotonic() + timeout
        next_crash_check = time.monotonic() + 1.0
        with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
            while pending:
                futures = {name: pool.submit(fn) for name, fn in pending.items()}
                for name, fut in futures.items():
                    if fut.result():
                        self.progress(f"{name} healthy ({time.monotonic() - self.t0:.1f} s)")
                        del pending[name]
                if not pending:
                    return
                if time.monotonic() > next_crash_check:
                    self._fail_fast(watch)
                    next_crash_check = time.monotonic() + 1.0
                if time.monotonic() > deadline:
                    raise TargetError(
                        f"not healthy after {timeout:.0f} s: {', '.join(pending)}; see the logs in {self.layout.logs}"
                    )
                time.sleep(0.1)

    def _fail_fast(self, watch: list[str]) -> None:
        crashes = self.sup.restarts()
        procs = self.sup.processes()
        for name in watch:
            info = procs.get(name)
            looping = crashes[name] - self._crashes_before[name] >= _MAX_CRASHES
            if looping or (info is not None and info.state == "FATAL"):
                log = self.layout.log(name)
                text = log.read_text(errors="replace") if log.exists() else ""
                error = PortTaken if port_taken(text) else TargetError
                raise error(startup_failure(name, text, self.state, str(log)))
