"""``LocalTarget``: the Target protocol on the embedded stack (lifecycle, pods, status)."""

from __future__ import annotations

import fcntl
import math
import os
import random
import signal as signals
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil

from resilience.errors import ConfigError, PortTaken, TargetError
from resilience.safety.redact import register_secrets
from resilience.targets.base import DbNode, DeployResult, Endpoints, FailoverMode, Pod, Progress, Status
from resilience.targets.local import bringup, configs, deploys, observe, preflight, releases, statedir
from resilience.targets.local.database import Database, held_by
from resilience.targets.local.layout import DB_NODES, Layout, Secrets, StackState, default_state_dir
from resilience.targets.local.slots import Slots
from resilience.targets.local.supervisor import supervisord_alive
from resilience.targets.local.teardown import postmaster_pid, stack_processes, tear_down
from resilience.targets.local.view import StackView, db_routing_ok
from resilience.targets.selector import parse_selector

__all__ = ["PORT_ATTEMPTS", "LocalTarget", "parse_signal"]

PORT_ATTEMPTS = 3
"""Bring-ups tried when a component finds its planned port taken (each plans new free ports): another stack
starting beside this one (parallel tests) can pick and bind the same port between this plan and the bind."""


def _quiet(_: str) -> None:
    return None


def parse_signal(name: str | int) -> signals.Signals:
    """``SIGKILL``, ``KILL``, ``9`` -> the signal; ConfigError for anything else."""
    try:
        if isinstance(name, int) or str(name).isdigit():
            return signals.Signals(int(name))
        text = str(name).upper()
        return signals.Signals[text if text.startswith("SIG") else f"SIG{text}"]
    except (KeyError, ValueError):
        raise ConfigError(f"unknown signal {name!r} (e.g. SIGKILL, SIGTERM, 9)") from None


def pick_victims(pods: list[Pod], count: int | None, percent: float | None) -> list[Pod]:
    """``count`` pods (or ``percent`` % of them, rounded up, at least one), chosen at random."""
    if count is not None and percent is not None:
        raise ConfigError("kill: give count or percent, not both")
    if percent is not None:
        if not 0 < percent <= 100:
            raise ConfigError(f"kill: percent must be in (0, 100], got {percent}")
        count = max(1, math.ceil(len(pods) * percent / 100))
    count = 1 if count is None else count
    if count < 1 or count > len(pods):
        raise ConfigError(f"kill: count {count} but {len(pods)} running pod(s) match")
    return random.sample(pods, count)


class LocalTarget:
    """The embedded HA stack under supervisord, driven through the Target protocol."""

    def __init__(
        self,
        *,
        name: str = "local",
        state_dir: str | Path | None = None,
        replicas: int = 3,
        ports: Mapping[str, int] | None = None,
        chat_env: Mapping[str, str] | None = None,
        users: int = bringup.DEFAULT_USERS,
        **_: Any,
    ) -> None:
        """``ports`` pins ports by name (``redis``, ``haproxy-chat``, ``pg-1``, ...); the rest are picked free.
        ``chat_env`` adds CHAT_* settings to every chat replica (``CHAT_RATE_LIMIT``, ``CHAT_DB_POOL_MAX``...).
        ``users`` sizes the HAProxy tier and the fewest chat replicas for that many concurrent users."""
        if replicas < 1:
            raise ConfigError(f"replicas must be at least 1, got {replicas}")
        if users < 1:
            raise ConfigError(f"users must be at least 1, got {users}")
        self.users = users
        self.name = name
        self.replicas = replicas
        self.fixed_ports = dict(ports or {})
        self.chat_env = configs.validate_chat_env(chat_env or {})
        self.layout = Layout(Path(state_dir) if state_dir else default_state_dir())

    # -- helpers -----------------------------------------------------------------------------------
    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        with self.layout.lock_file.open("a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise TargetError(f"another 'resilience up/down' is working on {self.layout.root}") from None
            yield

    def _state(self) -> StackState:
        if self.is_up():
            return StackState.load(self.layout.state_file)
        if self.layout.state_file.exists():
            raise TargetError(
                f"stale state in {self.layout.root}: its supervisord is gone (a crashed run); "
                "'resilience down' cleans up, 'resilience up' starts afresh"
            )
        raise TargetError(
            f"the local stack is not running (state dir {self.layout.root}); start it with 'resilience up'"
        )

    def _view(self) -> StackView:
        state = self._state()  # first: a stopped stack raises here, before any file is read or made
        secrets = Secrets.load_or_create(self.layout.secrets_file)
        register_secrets(secrets.values())  # whatever prints or writes them later gets them masked
        return StackView(self.layout, state, secrets)

    def _db(self) -> Database:
        return Database(self._view())

    # -- lifecycle ---------------------------------------------------------------------------------
    def is_up(self) -> bool:
        if not self.layout.state_file.exists():
            return False
        try:
            state = StackState.load(self.layout.state_file)
        except ConfigError:
            return False
        return supervisord_alive(self.layout, state.supervisord_pid)

    def _has_leftovers(self) -> bool:
        return (
            self.layout.state_file.exists()
            or self.layout.supervisord_pid.exists()
            or any(postmaster_pid(self.layout.pg_data(n)) for n in DB_NODES)
            or bool(stack_processes(self.layout.root))
        )

    def up(self, *, progress: Progress | None = None) -> Endpoints:
        """Cold start to healthy; returns the endpoints. Already running: returns them unchanged."""
        say = progress or _quiet
        t0 = time.monotonic()
        statedir.ensure_state_dir(self.layout.root)
        if self.is_up():
            say(f"already running (state dir {self.layout.root})")
            if self._deploy_interrupted():
                say("a deploy was interrupted (its process is gone): rolling it back")
                self.rollback()
            return self.endpoints()
        uid, gid, gids = preflight.postgres_ids()
        bins = preflight.find_binaries()
        preflight.require_reachable(
            {
                "Patroni runtime": Path(bins.patroni_path),
                "state directory": self.layout.root,
                "Python interpreter": Path(bins.patroni_python),
            },
            uid,
            gids,
        )
        statedir.claim_state_dir(self.layout.root)
        with self._lock():
            if self._has_leftovers():
                say("cleaning up after a previous run that did not shut down")
                tear_down(self.layout, None)
            for attempt in range(1, PORT_ATTEMPTS + 1):
                state = bringup.plan_state(self.layout, self.replicas, self.fixed_ports, self.chat_env, self.users)
                say(
                    f"sized for {state.users:,} users: {state.lb_processes} HAProxy processes, "
                    f"{state.replicas} chat replicas"
                )
                bringup.prepare_dirs(self.layout, uid, gid)
                sec = Secrets.load_or_create(self.layout.secrets_file)
                bringup.write_configs(self.layout, state, sec, bins, uid=uid, gid=gid)
                try:
                    bringup.bring_up(self.layout, state, sec, say, t0)
                    break
                except BaseException as exc:
                    say("bring-up failed: stopping what was started (logs kept)")
                    tear_down(self.layout, state)
                    if not isinstance(exc, PortTaken) or attempt == PORT_ATTEMPTS:
                        raise
                    say(f"{exc}: again with other ports (attempt {attempt + 1} of {PORT_ATTEMPTS})")
            say(f"stack healthy in {time.monotonic() - t0:.1f} s")
            return StackView(self.layout, state, sec).endpoints()

    def down(self, *, purge: bool = False) -> None:
        """Stop everything by pid, including orphaned postmasters; ``purge`` deletes the state dir."""
        if not self.layout.root.exists():
            return
        statedir.ensure_state_dir(self.layout.root)
        with self._lock():
            state: StackState | None = None
            if self.layout.state_file.exists():
                try:
                    state = StackState.load(self.layout.state_file)
                except ConfigError:
                    state = None
            tear_down(self.layout, state, purge=purge)

    def status(self) -> Status:
        view = self._view()
        snap = view.snapshot()
        pods = view.pods(snap)
        routing = db_routing_ok(snap.nodes, snap.servers)
        extra = {
            "state_dir": str(self.layout.root),
            "supervisord_pid": view.state.supervisord_pid,
            "release": view.state.release,
            "sized_for_users": view.state.users or None,
            "lb_processes": view.state.lb_names(),
            "db": [
                {"name": n.name, "role": n.role, "state": n.state, "sync": n.sync, "lag_bytes": n.lag_bytes}
                for n in snap.nodes or []
            ],
            "db_routing_ok": routing,
        }
        return Status(self.name, all(p.ready for p in pods) and routing, tuple(pods), view.endpoints(), extra)

    def endpoints(self) -> Endpoints:
        return self._view().endpoints()

    def observers(self) -> dict[str, observe.Reader]:
        """Readers of etcd's leader key, every HAProxy process, the supervisor and the replicas' readiness,
        for the failover anatomy (resilience/targets/local/observe.py)."""
        return observe.readers(self._view())

    def issuer_secret(self) -> str:
        """The secret that guards the chat service's ``POST /auth/token``."""
        self._state()
        return Secrets.load_or_create(self.layout.secrets_file).issuer

    def proxies(self) -> dict[str, str]:
        return {"postgres": "postgres", "redis": "redis"}

    # -- pods --------------------------------------------------------------------------------------
    def pods(self, selector: str = "") -> list[Pod]:
        sel = parse_selector(selector)
        view = self._view()
        return [p for p in view.pods(view.snapshot()) if sel.matches(p.labels)]

    def kill(
        self, selector: str, *, count: int | None = None, percent: float | None = None, signal: str = "SIGKILL"
    ) -> list[Pod]:
        """Signal randomly chosen running pods; a PostgreSQL pod's postmaster is signalled with its Patroni."""
        sig = parse_signal(signal)
        running = [p for p in self.pods(selector) if p.pid]
        if not running:
            raise TargetError(f"kill: no running pod matches selector {selector!r}")
        victims = pick_victims(running, count, percent)
        for pod in victims:
            pids = [pod.pid]
            if pod.name in DB_NODES:
                pids.append(postmaster_pid(self.layout.pg_data(pod.name)))
            for pid in pids:
                if pid:
                    with suppress(ProcessLookupError):
                        os.kill(pid, sig)
        return victims

    def wait_ready(self, selector: str, *, timeout: float = 60.0) -> float:
        t0 = time.monotonic()
        while True:
            pods = self.pods(selector)
            if pods and all(p.ready for p in pods):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                names = ", ".join(p.name for p in pods if not p.ready) or "no pod matches"
                why = "".join(held_by(self._view(), p.name) for p in pods if not p.ready and p.name in DB_NODES)
                raise TargetError(f"pods {selector!r} not ready after {timeout:.0f} s: {names}{why}")
            time.sleep(0.2)

    # -- database ----------------------------------------------------------------------------------
    def db_nodes(self) -> list[DbNode]:
        return self._db().nodes()

    def db_primary(self) -> str:
        return self._db().primary()

    def failover_db(self, mode: FailoverMode = FailoverMode.PRIMARY_CRASH) -> str:
        return self._db().failover(FailoverMode(mode))

    def wait_db_healthy(self, *, timeout: float = 60.0) -> float:
        return self._db().wait_healthy(timeout)

    def wait_db_rejoined(self, node: str, old_postmaster: int, *, timeout: float = 60.0) -> DbNode:
        """Wait until ``node``, crashed as primary, streams again as a replica under a new postmaster."""
        return self._db().wait_rejoined(node, old_postmaster, timeout)

    # -- releases ----------------------------------------------------------------------------------
    def release(self) -> str:
        return self._state().release

    def rollout(self, release: str, *, timeout: float = 120.0) -> None:
        view = self._view()
        releases.rollout(view, preflight.find_binaries(), release, timeout=timeout)

    def rollback(self, *, timeout: float = 120.0) -> str:
        """Back to the previous release; after an interrupted deploy, first stop its extra replicas."""
        view = self._view()
        bins = preflight.find_binaries()
        if view.state.deploying or Slots(view, bins, _quiet).strays():
            deploys.restore(view, bins)
        return releases.rollback(view, bins, timeout=timeout)

    # -- deploys -----------------------------------------------------------------------------------
    def deploy(
        self,
        release: str,
        strategy: str = "rolling",
        *,
        analysis: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        timeout: float = 120.0,
    ) -> DeployResult:
        """Deploy ``release`` (rolling or blue-green) with automated rollback on a failed analysis."""
        del timeout  # bounded by the deploy's progressDeadlineSeconds per step
        view = self._view()
        return deploys.deploy(view, preflight.find_binaries(), release, strategy, analysis=analysis, options=options)

    def deploy_in_progress(self) -> bool:
        return self._state().deploying

    def _deploy_interrupted(self) -> bool:
        """A deploy started and did not end, and the process that ran it is gone."""
        state = self._state()
        return state.deploying and not (state.deployer and psutil.pid_exists(state.deployer))
