"""Chat slots: start a replica in a free slot, wait for it, retire a serving one (drain, then SIGTERM).

The stack has twice as many chat slots as replicas (``StackState.chat_slots``); the serving ones are
``state.active``. A slot that is not serving is in maintenance in HAProxy and is no Prometheus target.

    start(slot, release) ─► healthz answers: a Prometheus target ─► /readyz 200 ─► (caller) HAProxy ready
    retire(slot): HAProxy drain ─► in-flight requests end ─► SIGTERM (the replica turns unready, closes its
    WebSockets with 1012 and exits) ─► no Prometheus target ─► HAProxy maint
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from resilience.targets.local import configs, lb, monitoring, probes, wiring
from resilience.targets.local.configs import Binaries
from resilience.targets.local.layout import StackState
from resilience.targets.local.view import StackView

__all__ = ["Slots"]

_SHUTDOWN_DELAY_S = 1.5
"""The replicas' CHAT_SHUTDOWN_DELAY_S (default): after it, their WebSockets are closed."""


class Slots:
    """Slot operations on one stack, safe to call from the deploy's threads."""

    def __init__(self, view: StackView, bins: Binaries, note: Callable[[str], None]) -> None:
        self.view = view
        self.bins = bins
        self.note = note
        self.lock = threading.RLock()
        self.scraped: set[str] = set(view.state.chat_names())
        self.retiring: set[str] = set()
        """Slots being retired: not free until their retirement ended (it still changes their state)."""

    @property
    def state(self) -> StackState:
        return self.view.state

    def save(self) -> None:
        """Write state.json, supervisord.conf and each HAProxy process's config (a restarted one gets today's slots)."""
        with self.lock:
            layout, state = self.view.layout, self.state
            state.save(layout.state_file)
            progs = configs.programs(state, self.view.secrets, layout, self.bins)
            configs.write_private(layout.supervisord_conf, configs.supervisord_conf(progs, layout, state.scope))
            for name in state.lb_names():
                layout.lb_conf(name).write_text(wiring.haproxy_cfg(state, layout, name))

    def _scrape(self, name: str, on: bool) -> None:
        with self.lock:
            (self.scraped.add if on else self.scraped.discard)(name)
            names = [n for n in self.state.chat_slots() if n in self.scraped]
            monitoring.write_chat_targets(self.view.layout, self.state, names)

    def free(self) -> list[str]:
        """Slots neither serving nor running."""
        procs = self.view.sup.processes()
        with self.lock:
            busy = set(self.state.chat_names()) | self.retiring
        return [
            n
            for n in self.state.chat_slots()
            if n not in busy and (n not in procs or procs[n].state not in ("RUNNING", "STARTING", "STOPPING"))
        ]

    def start(self, name: str, release: str) -> None:
        """Start slot ``name`` on ``release`` (it stays out of HAProxy's rotation)."""
        with self.lock:
            self.state.replica_releases[name] = release
            if name not in self.state.components:
                self.state.components.append(name)
            self.save()
            self.view.sup.replace_program(name)
            self.view.sup.start(name)
        self.note(f"{name} started on {release}")

    def wait_ready(self, name: str, release: str, deadline: float) -> bool:
        """Until slot ``name`` runs ``release`` and its /readyz answers 200; False past ``deadline``."""
        port = self.state.ports[name]
        scraped = False
        while time.monotonic() < deadline:
            body = probes.chat_health(port)
            if body and body.get("release") == release:
                if not scraped:
                    self._scrape(name, True)
                    scraped = True
                if probes.http_ok(f"http://127.0.0.1:{port}/readyz"):
                    self.note(f"{name} ready")
                    return True
            time.sleep(0.1)
        return False

    def wait_lb(self, names: list[str], prefixes: tuple[str, ...], deadline: float) -> bool:
        """Until every HAProxy process reports each of ``names`` with one of ``prefixes`` (``UP``, ``DRAIN``)."""
        while time.monotonic() < deadline:
            if all(lb.status_everywhere(self.view, n, prefixes) for n in names):
                return True
            time.sleep(0.05)
        return False

    def retire(self, name: str, *, drain_s: float = 1.0) -> None:
        """Take slot ``name`` out: drain in HAProxy, let requests end (WebSockets stay: the replica closes them
        with 1012), stop it with SIGTERM, remove its target and put it in maintenance."""
        with self.lock:
            self.retiring.add(name)
        try:
            self._retire(name, drain_s)
        finally:
            with self.lock:
                self.retiring.discard(name)
        self.note(f"{name} retired")

    def _retire(self, name: str, drain_s: float) -> None:
        lb.set_states(self.view, {name: "drain"})
        end = time.monotonic() + drain_s
        while time.monotonic() < end and lb.sessions(self.view, name) > 0:
            time.sleep(0.05)
        self.view.sup.stop(name, wait=False)
        time.sleep(_SHUTDOWN_DELAY_S)  # the replica still answers its scrapes until it closes its sockets
        self._scrape(name, False)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            info = self.view.sup.processes().get(name)
            if info is None or info.state not in ("RUNNING", "STOPPING", "STARTING"):
                break
            time.sleep(0.1)
        lb.set_states(self.view, {name: "maint"})
        with self.lock:
            if name not in self.state.chat_names() and name in self.state.components:
                self.state.components.remove(name)
            self.save()

    def discard(self, name: str) -> None:
        """Stop a slot that never served (a halted or rolled-back replica), at once."""
        lb.set_states(self.view, {name: "maint"})
        self._scrape(name, False)
        self.view.sup.stop(name, wait=True)
        with self.lock:
            if name in self.state.components and name not in self.state.chat_names():
                self.state.components.remove(name)
            self.save()
        self.note(f"{name} stopped")

    def strays(self) -> list[str]:
        """Slots running but not serving (left by an interrupted deploy)."""
        procs = self.view.sup.processes()
        busy = set(self.state.chat_names())
        return [
            n
            for n in self.state.chat_slots()
            if n not in busy and n in procs and procs[n].state in ("RUNNING", "STARTING", "BACKOFF")
        ]
