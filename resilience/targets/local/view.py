"""What a running local stack looks like right now: pods, roles, routing, endpoints.

A ``StackView`` reads supervisord, Patroni, HAProxy and each component's health endpoint; it changes
nothing. ``snapshot()`` takes every reading once (concurrently) so that ``pods()`` and ``status`` stay
fast and consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from resilience.targets.base import DbNode, Endpoints, Pod
from resilience.targets.local import probes
from resilience.targets.local.layout import DB_NODES, Layout, Secrets, StackState, lb_stats_port_name
from resilience.targets.local.supervisor import ProcInfo, Supervisor

__all__ = ["Snapshot", "StackView", "db_routing_ok", "merge_lb_servers"]

_STATIC_LABELS = {
    "etcd": {"app": "etcd"},
    "redis": {"app": "redis"},
    "haproxy": {"app": "haproxy"},
    "prometheus": {"app": "prometheus"},
    "alertmanager": {"app": "alertmanager"},
    "alert-receiver": {"app": "alert-receiver"},
    "toxiproxy": {"app": "toxiproxy"},
}
_DB_UP_STATES = ("running", "streaming")


def merge_lb_servers(tier: dict[str, dict[tuple[str, str], str] | None]) -> dict[tuple[str, str], str] | None:
    """One view of the HAProxy tier from each process's server statuses: a server is ``UP`` only when every
    answering process has it UP (else the first other status seen); None when no process answers."""
    answering = [servers for servers in tier.values() if servers is not None]
    if not answering:
        return None
    merged: dict[tuple[str, str], str] = {}
    for servers in answering:
        for key, status in servers.items():
            if key not in merged or (merged[key].startswith("UP") and not status.startswith("UP")):
                merged[key] = status
    return merged


def db_routing_ok(nodes: list[DbNode] | None, servers: dict[tuple[str, str], str] | None) -> bool:
    """A running leader, a streaming sync replica, and HAProxy-RW routing to the leader alone.

    The sync replica must be ``streaming``: Patroni keeps a crashed replica in its synchronous set (the
    DCS ``/sync`` key) until a loop drops it, and a leader crashed in that window has no failover candidate
    -- it restarts in place instead of failing over.
    """
    if not nodes or servers is None:
        return False
    leaders = [n for n in nodes if n.role == "primary" and n.state in _DB_UP_STATES]
    syncs = [n for n in nodes if n.sync and n.state == "streaming"]
    up = [srv for (px, srv), st in servers.items() if px == "postgres-rw" and st.startswith("UP")]
    return len(leaders) == 1 and bool(syncs) and up == [leaders[0].name]


@dataclass(frozen=True)
class Snapshot:
    """One reading of every component."""

    procs: dict[str, ProcInfo]
    nodes: list[DbNode] | None
    servers: dict[tuple[str, str], str] | None
    health: dict[str, bool]
    releases: dict[str, str] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)


class StackView:
    """Read-only view of the stack recorded in ``state``."""

    def __init__(self, layout: Layout, state: StackState, secrets: Secrets) -> None:
        self.layout = layout
        self.state = state
        self.secrets = secrets
        self.sup = Supervisor(layout)

    # -- single readings --------------------------------------------------------------------------
    def db_nodes(self) -> list[DbNode] | None:
        return probes.patroni_cluster({n: self.state.ports[f"{n}-api"] for n in DB_NODES})

    def haproxy(self) -> dict[tuple[str, str], str] | None:
        """Server statuses of the whole HAProxy tier (``merge_lb_servers``): UP only when UP in every
        answering process."""
        return merge_lb_servers(self.lb_servers())

    def lb_servers(self) -> dict[str, dict[tuple[str, str], str] | None]:
        """Each HAProxy process's server statuses (None: its stats page does not answer)."""
        names = self.state.lb_names()
        if len(names) == 1:
            return {names[0]: self._lb_stats(names[0])}
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            return dict(zip(names, pool.map(self._lb_stats, names), strict=True))

    def _lb_stats(self, name: str) -> dict[tuple[str, str], str] | None:
        return probes.haproxy_servers(self.state.ports[lb_stats_port_name(name)])

    def lb_sockets(self) -> dict[str, str]:
        """Each HAProxy process's admin socket (runtime API): a drain or ``set server`` goes to every one."""
        return {name: str(self.layout.lb_sock(name)) for name in self.state.lb_names()}

    def health_checks(self) -> dict[str, Callable[[], bool]]:
        """Component name -> its own health probe (PostgreSQL nodes are judged from Patroni's view)."""
        p = self.state.ports
        checks: dict[str, Callable[[], bool]] = {
            "etcd": lambda: probes.etcd_healthy(p["etcd"]),
            "redis": lambda: probes.redis_ping(p["redis"], self.secrets.redis),
            "prometheus": lambda: probes.http_ok(f"http://127.0.0.1:{p['prometheus']}/-/ready"),
            "toxiproxy": lambda: probes.http_ok(f"http://127.0.0.1:{p['toxiproxy']}/version"),
        }
        for name in self.state.lb_names():
            checks[name] = self._lb_check(name)
        if "alertmanager" in self.state.components:
            checks["alertmanager"] = lambda: probes.http_ok(f"http://127.0.0.1:{p['alertmanager']}/-/ready")
        if "alert-receiver" in self.state.components:
            checks["alert-receiver"] = lambda: probes.http_ok(f"http://127.0.0.1:{p['alert-receiver']}/healthz")
        for name in self.state.chat_names():
            checks[name] = self._chat_check(p[name])
        return checks

    def _lb_check(self, name: str) -> Callable[[], bool]:
        return lambda: self._lb_stats(name) is not None

    @staticmethod
    def _chat_check(port: int) -> Callable[[], bool]:
        return lambda: probes.http_ok(f"http://127.0.0.1:{port}/readyz")

    def chat_release(self, name: str) -> str | None:
        body = probes.chat_health(self.state.ports[name])
        return str(body.get("release")) if body else None

    # -- the whole picture ------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        checks = self.health_checks()
        with ThreadPoolExecutor(max_workers=8) as pool:
            procs_f = pool.submit(self.sup.processes)
            nodes_f = pool.submit(self.db_nodes)
            servers_f = pool.submit(self.haproxy)
            health_f = {name: pool.submit(fn) for name, fn in checks.items()}
            rel_f = {name: pool.submit(self.chat_release, name) for name in self.state.chat_names()}
            return Snapshot(
                procs=procs_f.result(),
                nodes=nodes_f.result(),
                servers=servers_f.result(),
                health={name: f.result() for name, f in health_f.items()},
                releases={name: r for name, f in rel_f.items() if (r := f.result()) is not None},
                restarts=dict(self.sup.restarts()),
            )

    def pods(self, snap: Snapshot) -> list[Pod]:
        """Every component as a pod: labels (PostgreSQL with its role), pid, readiness, restarts."""
        pods: list[Pod] = []
        roles = {n.name: n for n in snap.nodes or []}
        servers = snap.servers or {}
        for name in self.state.components:
            info = snap.procs.get(name)
            pid = info.pid if info and info.state == "RUNNING" else None
            if name in DB_NODES:
                node = roles.get(name)
                labels = {"app": "postgres", "role": node.role if node else "unknown"}
                ready = bool(pid and node and node.state in _DB_UP_STATES)
            elif name.startswith("chat-"):
                labels = {"app": "chat-api", "release": snap.releases.get(name, "unknown")}
                behind_lb = servers.get(("chat", name), "").startswith("UP")
                ready = bool(pid and snap.health.get(name) and behind_lb)
            else:
                labels = dict(_STATIC_LABELS.get(name) or _STATIC_LABELS["haproxy"])  # haproxy-K: the LB tier
                ready = bool(pid and snap.health.get(name))
            pods.append(Pod(name, labels, ready, pid, snap.restarts.get(name, 0)))
        return pods

    def endpoints(self) -> Endpoints:
        p = self.state.ports
        return Endpoints(
            chat=f"http://127.0.0.1:{p['haproxy-chat']}",
            toxiproxy=f"http://127.0.0.1:{p['toxiproxy']}",
            postgres=f"postgresql://chat:{self.secrets.chat_db}@127.0.0.1:{p['haproxy-rw']}/chat",
            redis=f"redis://:{self.secrets.redis}@127.0.0.1:{p['redis']}/0",
            prometheus=f"http://127.0.0.1:{p['prometheus']}",
            alertmanager=f"http://127.0.0.1:{p['alertmanager']}" if "alertmanager" in p else None,
            alerts=f"http://127.0.0.1:{p['alert-receiver']}" if "alert-receiver" in p else None,
            chat_replicas=tuple(f"http://127.0.0.1:{p[n]}" for n in self.state.chat_names()),
        )
