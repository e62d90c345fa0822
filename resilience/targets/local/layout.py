"""The state directory of one local stack: paths, ports, secrets and the recorded state.

Everything a running stack needs to be found, inspected and stopped again lives under one directory
(default ``$RESILIENCE_STATE_DIR`` or ``./.state/local``)::

    state.json        ports, replica releases, supervisord pid (no secrets)
    secrets.json      passwords and the JWT / issuer secrets (mode 0600)
    supervisord.conf  generated; holds the chat env, so mode 0600
    supervisor.sock   supervisord's XML-RPC socket
    conf/             patroni-pg-N.yml (owned by postgres, 0600), haproxy.cfg (haproxy-K.cfg for each further
                      process of the load-balancer tier), prometheus.yml, rules/,
                      alertmanager.yml, proxies.json
    data/             etcd, pg-N (owned by postgres, 0700), prometheus, alertmanager, alerts.jsonl (the
                      alert receiver's record) -- wiped by every ``up``
    run/              PostgreSQL unix sockets (owned by postgres)
    bin/              Patroni's PostgreSQL bin dir: the ``postgres`` wrapper of ``pgbin.py`` + symlinks
    logs/             one log per component, supervisord.log
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import json
import math
import os
import pwd
import random
import secrets
import socket
import stat
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from resilience.errors import ConfigError, TargetError
from resilience.files import write_atomic

__all__ = [
    "DB_NODES",
    "LB_USERS_PER_PROCESS",
    "STATE_ROOT",
    "USERS_PER_REPLICA",
    "Layout",
    "Secrets",
    "StackState",
    "allocate_ports",
    "blocked_ancestor",
    "default_state_dir",
    "lb_names",
    "lb_processes_for",
    "lb_stats_port_name",
    "port_names",
    "replicas_for",
    "scope_for",
    "write_secret_file",
]

DB_NODES = ("pg-1", "pg-2", "pg-3")
"""PostgreSQL node names (Patroni member names and pod names)."""

_STATE_VERSION = 1

LB_USERS_PER_PROCESS = 8000
"""WebSocket users one HAProxy process of the load-balancer tier is sized for. A proxied connection costs
two descriptors (client and server side) and every process has a hard limit of 20,000 open files, so one
process cannot hold 10,000 users; each gets ``maxconn`` ``LB_MAXCONN`` (its descriptors' ceiling)."""

LB_MAXCONN = 9000
"""HAProxy's ``maxconn`` per process: 2 x 9,000 descriptors + listeners, checks and logs < 20,000."""

USERS_PER_REPLICA = 15_000
"""WebSocket users one chat replica may hold: one descriptor each, under the 20,000 limit with room for its
database pool, Redis and logs (CPU, not descriptors, is what limits a replica on a small box)."""


def lb_processes_for(users: int) -> int:
    """HAProxy processes for ``users``: enough at ``LB_USERS_PER_PROCESS`` each, plus one, so the tier still
    holds them when a process dies (the kernel spreads new connections over the live ones); at least 2."""
    return max(2, math.ceil(users / LB_USERS_PER_PROCESS) + 1)


def replicas_for(users: int) -> int:
    """The fewest chat replicas whose descriptors hold ``users`` (``USERS_PER_REPLICA`` each)."""
    return math.ceil(users / USERS_PER_REPLICA)


def lb_names(processes: int) -> list[str]:
    """The load-balancer tier's process names: ``haproxy``, ``haproxy-2``, ... ``haproxy-N``."""
    return ["haproxy", *(f"haproxy-{k}" for k in range(2, processes + 1))]


def lb_stats_port_name(name: str) -> str:
    """The stats port of LB process ``name``: ``haproxy-stats`` for ``haproxy``, ``haproxy-stats-K`` else."""
    return "haproxy-stats" if name == "haproxy" else f"haproxy-stats-{name.rsplit('-', 1)[1]}"


STATE_ROOT = Path("/var/lib/resilience/state")
"""Where default state dirs go when the ``postgres`` user cannot reach the checkout."""


def default_state_dir() -> Path:
    """``$RESILIENCE_STATE_DIR``, else ``./.state/local`` when the ``postgres`` user can reach it, else
    ``/var/lib/resilience/state/<hash of the working dir>`` (a checkout under a mode-0700 home): one
    directory per checkout, the same for every command run from it."""
    env = os.environ.get("RESILIENCE_STATE_DIR")
    if env:
        return Path(env)
    local = Path.cwd() / ".state" / "local"
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        return local  # no postgres user: up will say so
    gids = frozenset({g.gr_gid for g in grp.getgrall() if "postgres" in g.gr_mem} | {pw.pw_gid})
    if blocked_ancestor(local.resolve(), pw.pw_uid, gids) is None:
        return local
    digest = hashlib.sha1(str(Path.cwd().resolve()).encode(), usedforsecurity=False).hexdigest()[:12]
    return STATE_ROOT / f"{Path.cwd().name}-{digest}"


def blocked_ancestor(path: Path, uid: int, gids: frozenset[int]) -> Path | None:
    """The first directory on the way to ``path`` that user ``uid`` (in ``gids``) may not traverse."""
    for d in [*reversed(path.parents), path]:
        try:
            st = d.stat()
        except OSError:
            return None  # does not exist yet: will be created by us
        if not stat.S_ISDIR(st.st_mode):
            continue
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid in gids:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return d
    return None


@dataclass(frozen=True)
class Layout:
    """Paths inside one state directory (pure: nothing is created here)."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def supervisord_conf(self) -> Path:
        return self.root / "supervisord.conf"

    @property
    def supervisor_sock(self) -> Path:
        return self.root / "supervisor.sock"

    @property
    def supervisord_pid(self) -> Path:
        return self.root / "supervisord.pid"

    @property
    def haproxy_sock(self) -> Path:
        """The first LB process's admin socket (``lb_sock`` for any of them)."""
        return self.run / "haproxy.sock"

    def lb_sock(self, name: str) -> Path:
        """The admin (runtime API) socket of LB process ``name`` (``haproxy``, ``haproxy-2``, ...)."""
        return self.run / f"{name}.sock"

    def lb_conf(self, name: str) -> Path:
        return self.conf / f"{name}.cfg"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def log(self, component: str) -> Path:
        """The log file of a component (its stdout and stderr)."""
        return self.logs / f"{component}.log"

    def pg_data(self, node: str) -> Path:
        return self.data / node

    def patroni_conf(self, node: str) -> Path:
        return self.conf / f"patroni-{node}.yml"


def scope_for(root: Path) -> str:
    """The stack's id, derived from its state dir: Patroni scope, supervisord identifier, process marker."""
    return "rs-" + hashlib.sha1(str(root.resolve()).encode(), usedforsecurity=False).hexdigest()[:10]


def port_names(replicas: int, lb_processes: int = 1) -> list[str]:
    """Every port a stack of ``replicas`` chat replicas and ``lb_processes`` HAProxy processes needs, by
    name (the processes share ``haproxy-rw`` and ``haproxy-chat`` with SO_REUSEPORT; each has its own
    stats port)."""
    names = [
        "etcd",
        "etcd-peer",
        "haproxy-rw",
        "haproxy-chat",
        "haproxy-stats",
        "redis",
        "toxiproxy",
        "proxy-postgres",
        "proxy-redis",
        "prometheus",
        "alertmanager",
        "alert-receiver",
    ]
    names += [lb_stats_port_name(n) for n in lb_names(lb_processes)[1:]]
    for node in DB_NODES:
        names += [node, f"{node}-api"]
    names += [f"chat-{i}" for i in range(1, 2 * replicas + 1)]  # serving slots + a deploy's (StackState.chat_slots)
    return names


def allocate_ports(names: list[str], fixed: Mapping[str, int] | None = None) -> dict[str, int]:
    """Distinct free loopback ports, one per name; ``fixed`` ones as given (all sockets are held open
    until every port is picked). A fixed port that is taken, or an unknown name, raises an error."""
    fixed = dict(fixed or {})
    unknown = sorted(set(fixed) - set(names))
    if unknown:
        raise ConfigError(f"unknown port name {unknown[0]!r} (choose from {', '.join(names)})")
    if len(set(fixed.values())) != len(fixed):
        raise ConfigError(f"the same port is given twice: {fixed}")
    with ExitStack() as stack:
        ports: dict[str, int] = {}
        for name in names:
            s = stack.enter_context(socket.socket())
            if name in fixed:
                try:
                    s.bind(("127.0.0.1", fixed[name]))
                except OSError as exc:
                    why = exc.strerror
                    raise TargetError(f"port {fixed[name]} ({name}) is taken by another process: {why}") from None
            else:
                _bind_outside_ephemeral(s, set(ports.values()) | set(fixed.values()))
            ports[name] = int(s.getsockname()[1])
        return ports


_PORT_FLOOR = 10000


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out as a client's source port (``ip_local_port_range``)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bind_outside_ephemeral(s: socket.socket, taken: set[int]) -> None:
    """Bind ``s`` to a free loopback port below the ephemeral range. A port picked by ``bind(0)`` comes from
    that range, so until the component binds it any client connection on the box (a parallel test, the load)
    may take it as its source port ("port taken" at start-up); below the range only servers compete."""
    low = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(_PORT_FLOOR, low) if low > _PORT_FLOOR + 100 else 0
        if port in taken:
            continue
        try:
            s.bind(("127.0.0.1", port))
            return
        except OSError:
            continue
    s.bind(("127.0.0.1", 0))


@dataclass(frozen=True)
class Secrets:
    """Passwords of the stack; kept in ``secrets.json`` (0600) and never printed (not even in ``repr``)."""

    superuser: str = field(repr=False)
    replication: str = field(repr=False)
    chat_db: str = field(repr=False)
    patroni_api: str = field(repr=False)
    jwt: str = field(repr=False)
    issuer: str = field(repr=False)
    redis: str = field(default="", repr=False)
    """Redis ``requirepass`` (a secrets file from before it existed gets one on the next load)."""

    @classmethod
    def generate(cls) -> Secrets:
        return cls(**{f: secrets.token_urlsafe(24) for f in cls.__dataclass_fields__})

    def values(self) -> list[str]:
        """Every secret value (to register with the redactor)."""
        return [v for v in asdict(self).values() if v]

    @classmethod
    def load_or_create(cls, path: Path) -> Secrets:
        """Read the secrets file, or create it (0600, never through a symlink) with fresh secrets; fields
        missing from an older file are generated and saved."""
        if path.exists():
            try:
                raw = json.loads(path.read_text())
                missing = {f: secrets.token_urlsafe(24) for f in cls.__dataclass_fields__ if not raw.get(f)}
                loaded = cls(**{**raw, **missing})
            except (ValueError, TypeError, AttributeError) as exc:
                raise ConfigError(
                    f"{path}: unreadable secrets file ({exc}); remove it or run 'resilience down --purge'"
                ) from exc
            if missing:
                write_secret_file(path, json.dumps(asdict(loaded)))
            return loaded
        made = cls.generate()
        write_secret_file(path, json.dumps(asdict(made)))
        return made


def write_secret_file(path: Path, text: str, *, uid: int = -1, gid: int = -1) -> None:
    """Write ``text`` to a fresh ``path`` with mode 0600: any old file (or a symlink planted in its place)
    is removed first and the new one is created with O_EXCL | O_NOFOLLOW, so nothing is written elsewhere."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    if uid >= 0:
        os.chown(path, uid, gid)


@dataclass
class StackState:
    """What ``up`` recorded about a running stack (``state.json``); no secrets."""

    replicas: int
    ports: dict[str, int]
    scope: str
    release: str = "good"
    previous_release: str = "good"
    replica_releases: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    supervisord_pid: int | None = None
    components: list[str] = field(default_factory=list)
    chat_env: dict[str, str] = field(default_factory=dict)
    """Extra CHAT_* settings for every replica (``up --chat-env``), e.g. CHAT_RATE_LIMIT."""
    users: int = 0
    """The concurrent users the stack was sized for (``up --users``; 0: a state file from before)."""
    lb_processes: int = 1
    """HAProxy processes of the load-balancer tier."""
    active: list[str] = field(default_factory=list)
    """The chat slots serving now (a deploy moves replicas between slots); empty: chat-1..replicas."""
    revision: int = 0
    """Counts deploys: every deploy is a new revision, even of the release already running."""
    deploying: bool = False
    """A deploy started and has not ended (true after an interrupted one: ``rollback`` restores)."""
    deployer: int | None = None
    """The pid of the process running the deploy (a deploy whose process is gone was interrupted)."""
    version: int = _STATE_VERSION

    def chat_names(self) -> list[str]:
        """The chat replicas serving now (``replicas`` of them)."""
        return list(self.active) or [f"chat-{i}" for i in range(1, self.replicas + 1)]

    def chat_slots(self) -> list[str]:
        """Every chat slot the stack has a port for: twice ``replicas``, so that a blue-green deploy can run
        a whole second set (and a rolling one a surge replica) next to the serving one."""
        return [n for i in range(1, 2 * self.replicas + 1) if (n := f"chat-{i}") in self.ports]

    def lb_names(self) -> list[str]:
        """The load-balancer tier's processes (components with ``app=haproxy``)."""
        return lb_names(self.lb_processes)

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> StackState:
        """Read ``state.json``; a malformed file is a ConfigError naming it."""
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
            if raw.get("version") != _STATE_VERSION:
                raise ValueError(f"version {raw.get('version')!r}, expected {_STATE_VERSION}")
            return cls(**raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{path}: stale or malformed state file ({exc}); run 'resilience down' to clean up"
            ) from exc
