"""Cold bring-up of the local stack, in parallel where the dependencies allow.

supervisord (subreaper) -> etcd + Redis + the HAProxy tier + Prometheus + Alertmanager + alert receiver + fault
proxy at once
-> 3 x Patroni at once (one bootstraps, two clone from it in parallel) -> application role and
database -> chat replicas -> wait: leader + sync replica, HAProxy-RW on the leader only, every
chat replica ready behind every HAProxy process.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping

import psycopg

from resilience.errors import TargetError
from resilience.targets.base import Progress
from resilience.targets.local import configs, monitoring, wiring
from resilience.targets.local.configs import Binaries
from resilience.targets.local.layout import (
    DB_NODES,
    Layout,
    Secrets,
    StackState,
    allocate_ports,
    lb_processes_for,
    port_names,
    replicas_for,
    scope_for,
)
from resilience.targets.local.pgbin import prepare_bin_dir
from resilience.targets.local.supervisor import Supervisor, launch_supervisord
from resilience.targets.local.view import StackView, db_routing_ok
from resilience.targets.local.waiting import Waiter

__all__ = ["bring_up", "create_app_database", "plan_state", "prepare_dirs", "write_configs"]

_BASE = ("etcd", "redis", *monitoring.COMPONENTS)

DEFAULT_USERS = 10_000
"""The concurrent WebSocket users a plain ``up`` sizes the stack for (the chat service's target)."""


def plan_state(
    layout: Layout,
    replicas: int,
    fixed_ports: Mapping[str, int] | None = None,
    chat_env: Mapping[str, str] | None = None,
    users: int = DEFAULT_USERS,
) -> StackState:
    """Fresh state for a stack sized for ``users`` concurrent users: at least ``replicas`` chat replicas
    (more when ``users`` need them, ``replicas_for``), an HAProxy tier of ``lb_processes_for(users)``
    processes, ports (free ones, or ``fixed_ports`` by name), components, releases, extra chat settings."""
    replicas = max(replicas, replicas_for(users))
    lbs = lb_processes_for(users)
    ports = allocate_ports(port_names(replicas, lbs), fixed_ports)
    state = StackState(
        replicas=replicas,
        ports=ports,
        scope=scope_for(layout.root),
        chat_env=configs.validate_chat_env(chat_env or {}),
        users=users,
        lb_processes=lbs,
    )
    state.components = ["etcd", "redis", *state.lb_names(), *monitoring.COMPONENTS, "toxiproxy", *DB_NODES]
    state.components += state.chat_names()
    state.replica_releases = dict.fromkeys(state.chat_names(), "good")
    return state


def prepare_dirs(layout: Layout, uid: int, gid: int) -> None:
    """Create the state dir tree; wipe data from a previous run (every ``up`` is a fresh cluster)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.root, 0o711)  # noqa: S103 - postgres must traverse it; secrets are 0600
    if layout.data.exists():
        shutil.rmtree(layout.data)
    for d in (layout.conf, layout.data, layout.logs):
        d.mkdir(exist_ok=True)
        os.chmod(d, 0o711)  # noqa: S103 - traversable, not listable
    layout.run.mkdir(exist_ok=True)
    os.chown(layout.run, uid, gid)
    os.chmod(layout.run, 0o700)
    for node in DB_NODES:
        for d in (layout.pg_data(node), layout.logs / f"{node}-postgres"):
            d.mkdir(exist_ok=True)
            os.chown(d, uid, gid)
            os.chmod(d, 0o700)
    for log in layout.logs.glob("*.log"):
        log.unlink()  # restarts are counted from supervisord.log: start each run with fresh logs


def write_configs(layout: Layout, state: StackState, sec: Secrets, bins: Binaries, *, uid: int, gid: int) -> None:
    """Render every config file into the state dir (secret-bearing files 0600)."""
    progs = configs.programs(state, sec, layout, bins)
    configs.write_private(layout.supervisord_conf, configs.supervisord_conf(progs, layout, state.scope))
    configs.write_private(layout.conf / "redis.conf", f"requirepass {sec.redis}\n")
    for node in DB_NODES:
        configs.write_private(
            layout.patroni_conf(node), configs.patroni_yaml(node, state, sec, layout, bins), uid=uid, gid=gid
        )
    for name in state.lb_names():
        layout.lb_conf(name).write_text(wiring.haproxy_cfg(state, layout, name))
    monitoring.write_monitoring(layout, state)
    (layout.conf / "proxies.json").write_text(wiring.proxies_json(state))
    prepare_bin_dir(layout.bin, bins.pg_bin)


def create_app_database(layout: Layout, state: StackState, sec: Secrets, leader: str) -> None:
    """Create the ``chat`` role and database on the leader (Patroni 4 has no bootstrap.users)."""
    try:
        with psycopg.connect(
            host=str(layout.run),
            port=state.ports[leader],
            user="postgres",
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'chat'").fetchone() is None:
                conn.execute(
                    psycopg.sql.SQL("CREATE ROLE chat LOGIN PASSWORD {}").format(psycopg.sql.Literal(sec.chat_db))
                )
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = 'chat'").fetchone() is None:
                conn.execute("CREATE DATABASE chat OWNER chat")
    except psycopg.Error as exc:
        raise TargetError(
            f"cannot create the chat database on {leader}: {exc}; see {layout.logs / (leader + '-postgres')}"
        ) from exc


def _leader(view: StackView) -> str | None:
    nodes = view.db_nodes() or []
    leaders = [n.name for n in nodes if n.role == "primary" and n.state == "running"]
    return leaders[0] if leaders else None


def bring_up(layout: Layout, state: StackState, sec: Secrets, progress: Progress, t0: float) -> int:
    """Start supervisord and every component, wait until the stack is healthy; return supervisord's pid."""
    pid = launch_supervisord(layout)
    state.supervisord_pid = pid
    state.save(layout.state_file)
    progress(f"supervisord started, pid {pid} ({time.monotonic() - t0:.1f} s)")
    sup = Supervisor(layout)
    view = StackView(layout, state, sec)
    waiter = Waiter(layout, state, progress, t0)
    checks = view.health_checks()

    base = [c for c in state.components if c in (*_BASE, "toxiproxy", *state.lb_names())]
    # Patroni takes longer to import than etcd to elect itself, and a chat replica retries its database
    # until it exists (readiness follows): start everything together, then wait in dependency order.
    for name in [*base, *DB_NODES, *state.chat_names()]:
        sup.start(name)
    waiter.until({"etcd": checks["etcd"]}, timeout=30, watch=["etcd"])
    waiter.until({"postgres leader": lambda: _leader(view) is not None}, timeout=120, watch=[*DB_NODES, *base])
    leader = _leader(view)
    if leader is None:  # lost it between two polls: wait once more
        waiter.until({"postgres leader (again)": lambda: _leader(view) is not None}, timeout=120, watch=list(DB_NODES))
        leader = _leader(view) or DB_NODES[0]
    create_app_database(layout, state, sec, leader)
    progress(f"chat database created on {leader} ({time.monotonic() - t0:.1f} s)")
    rest = {name: fn for name, fn in checks.items() if name != "etcd"}
    rest["postgres sync replica + read-write routing"] = lambda: db_routing_ok(view.db_nodes(), view.haproxy())
    members: list[str] = []  # Patroni's members at the last poll: named when the wait times out
    rest["all postgres nodes running"] = lambda: _all_db_running(view, members)
    rest["chat replicas behind haproxy"] = lambda: _chat_behind_lb(view)
    try:
        waiter.until(rest, timeout=90, watch=[c for c in state.components if c != "etcd"])
    except TargetError as exc:
        if "all postgres nodes running" not in str(exc):
            raise
        raise TargetError(f"{exc} (Patroni's members: {', '.join(members) or 'none listed'})") from None
    return pid


def _all_db_running(view: StackView, members: list[str]) -> bool:
    nodes = view.db_nodes() or []
    members[:] = [f"{n.name} {n.role} {n.state}" for n in nodes]
    return len(nodes) == len(DB_NODES) and all(n.state in ("running", "streaming") for n in nodes)


def _chat_behind_lb(view: StackView) -> bool:
    """Every chat replica UP in every HAProxy process of the tier."""
    tier = view.lb_servers()
    return all(
        servers is not None and all(servers.get(("chat", n), "").startswith("UP") for n in view.state.chat_names())
        for servers in tier.values()
    )
