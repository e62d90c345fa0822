"""Generated configuration of the local stack (pure: text in, text out; writing is the caller's job).

Settings follow the measured recipe in ``shared/notes/local-stack.md``: Patroni in synchronous mode with a
fast loop and ``primary_start_timeout: 0`` (a dead postmaster means failover, not an in-place restart),
the supervisord programs and the chat replicas' environment (HAProxy, the fault proxy and Prometheus: ``wiring``).
"""

from __future__ import annotations

import resource
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from resilience.errors import ConfigError
from resilience.targets.local import monitoring
from resilience.targets.local.layout import DB_NODES, Layout, Secrets, StackState, write_secret_file

__all__ = [
    "STACK_ENV",
    "Binaries",
    "Program",
    "chat_env",
    "patroni_yaml",
    "programs",
    "supervisord_conf",
    "validate_chat_env",
    "write_private",
]

STACK_ENV = "RESILIENCE_STACK"
"""Environment variable naming the stack a process belongs to (value: the stack's scope)."""

PATRONI_TTL = 20
"""Leader key TTL (Patroni 4 raises anything lower to 20)."""


@dataclass(frozen=True)
class Binaries:
    """Where the servers' executables are."""

    python: str
    etcd: str
    haproxy: str
    redis: str
    prometheus: str
    pg_bin: str
    alertmanager: str = "/usr/bin/prometheus-alertmanager"
    patroni_python: str = ""
    """The interpreter Patroni runs with (``runtime.py``; empty: ``python``)."""
    patroni_path: str = ""
    """Its ``PYTHONPATH``: Patroni's copied runtime, readable by ``postgres`` (empty: none)."""


@dataclass(frozen=True)
class Program:
    """One supervisord program."""

    name: str
    argv: tuple[str, ...]
    labels: Mapping[str, str]
    user: str | None = None
    env: Mapping[str, str] | None = None
    stopsignal: str = "TERM"
    stopwaitsecs: int = 10
    priority: int = 500
    autorestart: str = "true"


_MANAGED_CHAT_ENV = (
    "CHAT_DATABASE_URL",
    "CHAT_REDIS_URL",
    "CHAT_JWT_SECRET",
    "CHAT_ISSUER_SECRET",
    "CHAT_RELEASE",
    "CHAT_REPLICA",
)


def validate_chat_env(env: Mapping[str, str]) -> dict[str, str]:
    """Extra chat settings: CHAT_* names the stack does not manage itself, values supervisord can quote."""
    for key, value in env.items():
        if not key.startswith("CHAT_") or not key.replace("_", "").isalnum():
            raise ConfigError(f"chat setting {key!r}: expected a CHAT_* variable name")
        if key in _MANAGED_CHAT_ENV:
            raise ConfigError(f"chat setting {key}: set by the local target itself (releases: use rollout)")
        if any(c in value for c in '"\n\r'):
            raise ConfigError(f"chat setting {key}: the value may not contain quotes or newlines")
    return dict(env)


def chat_env(state: StackState, sec: Secrets, name: str) -> dict[str, str]:
    """The CHAT_* environment of chat replica ``name``: data stores reached through the fault proxy."""
    p = state.ports
    return {
        "CHAT_LOG_LEVEL": "info",
        **state.chat_env,
        "CHAT_DATABASE_URL": (
            f"postgresql://chat:{sec.chat_db}@127.0.0.1:{p['proxy-postgres']}/chat"
            "?connect_timeout=3&target_session_attrs=read-write"
        ),
        "CHAT_REDIS_URL": f"redis://:{sec.redis}@127.0.0.1:{p['proxy-redis']}/0",
        "CHAT_JWT_SECRET": sec.jwt,
        "CHAT_ISSUER_SECRET": sec.issuer,
        "CHAT_RELEASE": state.replica_releases.get(name, state.release),
        "CHAT_REPLICA": name,
    }


def programs(state: StackState, sec: Secrets, layout: Layout, bins: Binaries) -> list[Program]:
    """Every supervised program of the stack (those listed in ``state.components``), in start order."""
    p = state.ports
    etcd = Program(
        "etcd",
        (
            bins.etcd,
            "--name",
            "etcd1",
            "--data-dir",
            str(layout.data / "etcd"),
            "--listen-client-urls",
            f"http://127.0.0.1:{p['etcd']}",
            "--advertise-client-urls",
            f"http://127.0.0.1:{p['etcd']}",
            "--listen-peer-urls",
            f"http://127.0.0.1:{p['etcd-peer']}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{p['etcd-peer']}",
            "--initial-cluster",
            f"etcd1=http://127.0.0.1:{p['etcd-peer']}",
            "--initial-cluster-state",
            "new",
            "--log-level",
            "warn",
            "--logger",
            "zap",
            "--heartbeat-interval",
            "50",
            "--election-timeout",
            "300",
        ),
        {"app": "etcd"},
        priority=100,
    )
    redis = Program(
        "redis",
        (
            bins.redis,
            str(layout.conf / "redis.conf"),  # requirepass, 0600: not on the command line
            *redis_args(p["redis"], protected=True),
        ),
        {"app": "redis"},
        priority=100,
    )
    lbs = [
        Program(name, (bins.haproxy, "-db", "-f", str(layout.lb_conf(name))), {"app": "haproxy"}, priority=100)
        for name in state.lb_names()
    ]
    watchers = [
        Program(name, argv, {"app": name}, priority=100)
        for name, argv in monitoring.argvs(
            state, layout, prometheus=bins.prometheus, alertmanager=bins.alertmanager, python=bins.python
        )
    ]
    toxiproxy = Program(
        "toxiproxy",
        (
            bins.python,
            "-m",
            "resilience.netfault",
            "--host",
            "127.0.0.1",
            "--port",
            str(p["toxiproxy"]),
            "--config",
            str(layout.conf / "proxies.json"),
        ),
        {"app": "toxiproxy"},
        priority=100,
    )
    # Patroni: stopsignal KILL so that a supervisor stop *is* an agent crash (failover mode patroni-crash);
    # a graceful stop is a TERM sent through signalProcess. autorestart=unexpected: a crash restarts it.
    dbs = [
        Program(
            node,
            (bins.patroni_python or bins.python, "-m", "patroni", str(layout.patroni_conf(node))),
            {"app": "postgres"},
            user="postgres",
            env={"PYTHONPATH": bins.patroni_path, "PYTHONNOUSERSITE": "1"} if bins.patroni_path else None,
            stopsignal="KILL",
            priority=200,
            autorestart="unexpected",
        )
        for node in DB_NODES
    ]
    chats = [
        Program(
            name,
            (bins.python, "-m", "chat", "--host", "127.0.0.1", "--port", str(p[name])),
            {"app": "chat-api"},
            env=chat_env(state, sec, name),
            stopwaitsecs=15,  # CHAT_SHUTDOWN_DELAY_S + CHAT_DRAIN_TIMEOUT_S (1.5 + 10) and a margin
            priority=300,
        )
        for name in state.chat_slots()
    ]
    return [p for p in (etcd, redis, *lbs, *watchers, toxiproxy, *dbs, *chats) if p.name in state.components]


def _program_section(prog: Program, layout: Layout, scope: str) -> str:
    lines = [
        f"[program:{prog.name}]",
        f"command={shlex.join(prog.argv)}",
        "autostart=false",
        f"autorestart={prog.autorestart}",
        # startsecs=1: a program that dies within a second backs off (1 s, 2 s, ...) like a CrashLoopBackOff
        # instead of respawning in a tight loop; one killed later is restarted at once.
        "startsecs=1",
        "startretries=100",
        f"priority={prog.priority}",
        f"stopsignal={prog.stopsignal}",
        f"stopwaitsecs={prog.stopwaitsecs}",
        "redirect_stderr=true",
        f"stdout_logfile={layout.log(prog.name)}",
        "stdout_logfile_maxbytes=20MB",
        "stdout_logfile_backups=1",
        f"directory={layout.run}",
    ]
    if prog.user:
        lines.append(f"user={prog.user}")
    # supervisord's environment= syntax: KEY="value" pairs; values are URL-safe tokens and URLs here,
    # % is escaped for its %(here)s expansion. STACK_ENV marks every process of this stack (and the
    # postmasters Patroni forks) so that teardown finds them by stack, never by name.
    env = {STACK_ENV: scope, **(prog.env or {})}
    pairs = ",".join(f'{k}="{v.replace("%", "%%")}"' for k, v in env.items())
    lines.append(f"environment={pairs}")
    return "\n".join(lines) + "\n"


def _fd_ceiling() -> int:
    """The hard open-files limit (every program may raise its soft limit to it; 20,000 here)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1_048_576 if hard == resource.RLIM_INFINITY else int(min(hard, 1_048_576))


def supervisord_conf(progs: list[Program], layout: Layout, scope: str, minfds: int | None = None) -> str:
    """supervisord.conf: XML-RPC on a unix socket in the state dir, every program with autostart off.
    ``minfds`` (default: the hard limit) is the soft open-files limit supervisord sets and its programs
    inherit: HAProxy and the chat replicas hold thousands of sockets each."""
    minfds = minfds or _fd_ceiling()
    head = f"""[unix_http_server]
file={layout.supervisor_sock}
chmod=0700

[supervisord]
nodaemon=true
logfile={layout.log("supervisord")}
logfile_maxbytes=20MB
pidfile={layout.supervisord_pid}
childlogdir={layout.logs}
identifier={scope}
loglevel=info
minfds={minfds}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{layout.supervisor_sock}

"""
    return head + "\n".join(_program_section(p, layout, scope) for p in progs)


def redis_args(port: int, *, protected: bool) -> tuple[str, ...]:
    """redis-server's flags for a throw-away server on 127.0.0.1:``port``: foreground, no persistence."""
    return (
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--daemonize",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes" if protected else "no",
    )


def patroni_yaml(node: str, state: StackState, sec: Secrets, layout: Layout, bins: Binaries) -> str:
    """Patroni's configuration for ``node``: etcd3 DCS, quorum commit, fast failover."""
    p = state.ports
    conf: dict[str, Any] = {
        "scope": state.scope,
        "namespace": "/resilience/",
        "name": node,
        "log": {"level": "INFO"},
        "restapi": {
            "listen": f"127.0.0.1:{p[node + '-api']}",
            "connect_address": f"127.0.0.1:{p[node + '-api']}",
            "authentication": {"username": "patroni", "password": sec.patroni_api},
        },
        "etcd3": {"hosts": [f"127.0.0.1:{p['etcd']}"]},
        "bootstrap": {
            "dcs": {
                "ttl": PATRONI_TTL,
                "loop_wait": 1,
                "retry_timeout": 5,
                "primary_start_timeout": 0,
                # Quorum commit (Patroni >= 4.0): synchronous_standby_names = ANY 1 (both replicas), so
                # every replica that streams is a synchronous one and a commit waits for either. After a
                # failover the old primary rejoins as a synchronous replica (with plain synchronous mode
                # and node count 1 the new leader keeps the surviving replica and the old primary comes
                # back asynchronous), and losing one replica never stalls a commit.
                "synchronous_mode": "quorum",
                "synchronous_node_count": 1,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "wal_log_hints": "on",
                        "hot_standby": "on",
                        "synchronous_commit": "on",
                        "max_connections": 200,
                        "wal_keep_size": "128MB",
                        # The stack exists for process-level faults (kills, crashes, partitions); those
                        # never lose page cache, so fsync buys nothing here and costs seconds of
                        # bring-up on a busy disk. An OS crash is out of scope for the local target.
                        "fsync": "off",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, "no-sync"],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{p[node]}",
            "connect_address": f"127.0.0.1:{p[node]}",
            "data_dir": str(layout.pg_data(node)),
            "bin_dir": str(layout.bin),  # the postgres wrapper of pgbin.py
            "pgpass": str(layout.run / f"{node}.pgpass"),
            "authentication": {
                "superuser": {"username": "postgres", "password": sec.superuser},
                "replication": {"username": "replicator", "password": sec.replication},
                "rewind": {"username": "postgres", "password": sec.superuser},
            },
            "parameters": {
                "unix_socket_directories": str(layout.run),
                "logging_collector": "on",
                "log_directory": str(layout.logs / f"{node}-postgres"),
                "log_filename": "postgresql.log",
                "log_file_mode": "0640",
            },
            "basebackup": [{"checkpoint": "fast"}, "no-sync"],
            # a crashed primary that cannot be rewound is cloned again instead of staying down
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
            "pg_hba": [
                "local all all trust",
                "host replication replicator 127.0.0.1/32 scram-sha-256",
                "host all all 127.0.0.1/32 scram-sha-256",
            ],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }
    return yaml.safe_dump(conf, sort_keys=False)


def write_private(path: Path, text: str, *, uid: int = -1, gid: int = -1) -> None:
    """Write ``text`` to ``path`` with mode 0600, owned by ``uid``/``gid`` when given."""
    write_secret_file(path, text, uid=uid, gid=gid)
