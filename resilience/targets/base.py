"""The Target protocol: where faults land.

Experiments, probes and load speak only to this protocol, so the same experiment runs against the
embedded local stack (``targets/local``), a kind cluster or a staging cluster (``targets/kubernetes``).
Pods are selected with Kubernetes label selectors (see ``targets/selector``). Well-known labels:

* chat replicas: ``{"app": "chat-api"}``
* PostgreSQL nodes: ``{"app": "postgres", "role": "primary" | "replica"}``
* Redis: ``{"app": "redis"}``; etcd ``{"app": "etcd"}``; HAProxy ``{"app": "haproxy"}``;
  fault proxy ``{"app": "toxiproxy"}``; Prometheus ``{"app": "prometheus"}``.

Dependency names used for network faults (``Target.proxies()`` keys): ``"postgres"`` and ``"redis"``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "DbNode",
    "DeployOutcome",
    "DeployResult",
    "Deployer",
    "Endpoints",
    "FailoverMode",
    "Observable",
    "Pod",
    "Progress",
    "Status",
    "Target",
]

Progress = Callable[[str], None]
"""A callback that receives one human-readable progress line (``"etcd healthy (0.4 s)"``)."""


@runtime_checkable
class Observable(Protocol):
    """A target whose components can be read for the failover anatomy (resilience/analysis/anatomy.py)."""

    def observers(self) -> Mapping[str, Callable[[], dict[str, Any]]]:
        """Component name -> a reader returning ``{key: value}`` (the keys of the anatomy's module doc);
        a reader never raises: what does not answer is left out."""
        ...


class FailoverMode(enum.StrEnum):
    """How a database failover is provoked."""

    PRIMARY_CRASH = "primary-crash"
    """The primary's database server dies at once, every process of it (a node loss: container, VM or OOM
    group kill); the HA manager promotes the sync replica."""
    POSTMASTER_KILL = "postmaster-kill"
    """SIGKILL the primary's postmaster alone; its children outlive it until they notice (local target
    only: a harsher fault than a node loss, which the node's supervision must clean up)."""
    PATRONI_CRASH = "patroni-crash"
    """SIGKILL the primary's Patroni agent; the leader key expires after the TTL."""
    SWITCHOVER = "switchover"
    """A planned switchover to the sync replica through Patroni's REST API."""


@dataclass(frozen=True)
class Pod:
    """One replica of a component (a pod on Kubernetes, a supervised process locally)."""

    name: str
    labels: Mapping[str, str]
    ready: bool
    pid: int | None = None
    restarts: int = 0

    def to_json(self) -> dict[str, Any]:
        """The component shape of ``resilience status --json``."""
        return {
            "name": self.name,
            "labels": dict(self.labels),
            "pid": self.pid,
            "healthy": self.ready,
            "restarts": self.restarts,
        }


@dataclass(frozen=True)
class DbNode:
    """One PostgreSQL node as the HA manager (Patroni, CloudNativePG) sees it."""

    name: str
    role: str
    """``primary`` or ``replica``."""
    state: str
    """``running``, ``streaming``, ``stopped``, ..."""
    sync: bool = False
    """True when this replica is the synchronous standby."""
    lag_bytes: int | None = None


@dataclass(frozen=True)
class Endpoints:
    """Where load, probes and fault injectors reach the target. URLs, no secrets."""

    chat: str
    """Base URL of the chat service behind its load balancer, e.g. ``http://127.0.0.1:18080``."""
    toxiproxy: str
    """Base URL of the Toxiproxy API (the local fault proxy or the in-cluster Toxiproxy)."""
    postgres: str
    """libpq URL of the read-write entry point, usable as ``psql "$URL"``."""
    redis: str
    prometheus: str | None = None
    alertmanager: str | None = None
    """Base URL of Alertmanager, when the target runs one."""
    alerts: str | None = None
    """Base URL of the harness's alert receiver (``GET /alerts``: every notice Alertmanager sent)."""
    chat_replicas: tuple[str, ...] = ()
    """Base URL of each chat replica, when individually reachable."""

    def to_json(self) -> dict[str, Any]:
        """The ``endpoints`` object of ``resilience status --json``."""
        out: dict[str, Any] = {
            "chat": self.chat,
            "toxiproxy": self.toxiproxy,
            "postgres": self.postgres,
            "redis": self.redis,
            "prometheus": self.prometheus,
        }
        for key in ("alertmanager", "alerts"):
            if (url := getattr(self, key)) is not None:
                out[key] = url
        if self.chat_replicas:
            out["chat_replicas"] = list(self.chat_replicas)
        return out


@dataclass(frozen=True)
class Status:
    """A snapshot of the whole target, the body of ``resilience status --json``."""

    target: str
    healthy: bool
    components: tuple[Pod, ...]
    endpoints: Endpoints | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON contract in DESIGN.md (extra keys are allowed and kept)."""
        return {
            "target": self.target,
            "healthy": self.healthy,
            "components": [c.to_json() for c in self.components],
            "endpoints": self.endpoints.to_json() if self.endpoints else None,
            **self.extra,
        }


DeployOutcome = Literal["completed", "halted", "rolled_back"]


@dataclass(frozen=True)
class DeployResult:
    """How a deploy ended (``Deployer.deploy``); times are epoch seconds."""

    strategy: str
    release: str
    previous: str
    started: float
    finished: float
    outcome: DeployOutcome
    """``completed``: every replica on ``release``; ``halted``: it never became ready, the old release kept
    serving; ``rolled_back``: the analysis failed and the system went back to ``previous`` by itself."""
    rolled_back_by: Literal["system", "harness"] | None = None
    reason: str = ""
    switched_at: float | None = None
    """When the new release took all traffic (the last rolling step; the blue-green switch)."""
    rollback_started: float | None = None
    rollback_finished: float | None = None
    """When all traffic was on ``previous`` again."""
    steps: tuple[tuple[float, str], ...] = ()
    """(time, what happened): replica started, ready, serving, retired; the switch; the analysis."""
    measurements: tuple[dict[str, Any], ...] = ()
    """The analysis' measurements: metric, at, value, phase (Argo Rollouts' names)."""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["steps"] = [{"t": t, "event": e} for t, e in self.steps]
        out["measurements"] = list(self.measurements)
        return out


@runtime_checkable
class Deployer(Protocol):
    """A target whose own deployment machinery deploys releases (strategies, analysis, rollback)."""

    def deploy(
        self,
        release: str,
        strategy: str = "rolling",
        *,
        analysis: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        timeout: float = 120.0,
    ) -> DeployResult:
        """Deploy ``release`` with ``strategy`` (``rolling``, ``blue-green``) and return when it completed,
        halted or rolled back by itself; ``analysis`` is an Argo Rollouts AnalysisTemplate spec (None: the
        target's default). Raises TargetError only when the deploy machinery itself broke."""
        ...

    def deploy_in_progress(self) -> bool:
        """Whether a deploy started and did not end (an interrupted one): ``rollback`` restores the release."""
        ...


@runtime_checkable
class Target(Protocol):
    """Everything an experiment may do to, or ask of, a system under test.

    Every method raises ``TargetError`` (or ``ConfigError`` for a bad selector/argument) with a
    one-line message; none returns partial success silently.
    """

    name: str
    """``local``, ``kind`` or ``staging``."""

    # -- lifecycle -------------------------------------------------------------------------------
    def up(self, *, progress: Progress | None = None) -> Endpoints:
        """Bring the target to healthy (start it locally; check it is reachable on a cluster)."""
        ...

    def down(self, *, purge: bool = False) -> None:
        """Stop what ``up`` started; ``purge`` also deletes its data."""
        ...

    def is_up(self) -> bool:
        """Whether the target is running (not necessarily healthy)."""
        ...

    def status(self) -> Status:
        """Every component with labels, pid, health and restarts, and the endpoints."""
        ...

    def endpoints(self) -> Endpoints:
        """Endpoints of a running target."""
        ...

    # -- pods ------------------------------------------------------------------------------------
    def pods(self, selector: str = "") -> list[Pod]:
        """Pods whose labels match the Kubernetes label selector (empty: all)."""
        ...

    def kill(
        self,
        selector: str,
        *,
        count: int | None = None,
        percent: float | None = None,
        signal: str = "SIGKILL",
    ) -> list[Pod]:
        """Kill ``count`` (or ``percent`` %) of the matching pods, chosen at random; return the victims."""
        ...

    def wait_ready(self, selector: str, *, timeout: float = 60.0) -> float:
        """Wait until every pod matching the selector is ready; return the seconds waited."""
        ...

    # -- database --------------------------------------------------------------------------------
    def db_nodes(self) -> list[DbNode]:
        """The PostgreSQL cluster members and their roles."""
        ...

    def db_primary(self) -> str:
        """Name of the current primary node."""
        ...

    def failover_db(self, mode: FailoverMode = FailoverMode.PRIMARY_CRASH) -> str:
        """Provoke a failover; return the name of the primary that was failed over from."""
        ...

    def wait_db_healthy(self, *, timeout: float = 60.0) -> float:
        """Wait for a leader with a synchronous replica and read-write routing to it; return seconds."""
        ...

    # -- releases --------------------------------------------------------------------------------
    def release(self) -> str:
        """The chat release currently rolled out (``good``, ``bad-errors``, ``bad-latency``, ...)."""
        ...

    def rollout(self, release: str, *, timeout: float = 120.0) -> None:
        """Roll the chat replicas to ``release`` one at a time, waiting for readiness after each.

        Raises TargetError when a replica does not become ready within ``timeout`` (the rollout stops
        there, as a Deployment's would); ``rollback`` restores the previous release.
        """
        ...

    def rollback(self, *, timeout: float = 120.0) -> str:
        """Roll back to the previous release; return the release now running. Idempotent."""
        ...

    # -- network faults --------------------------------------------------------------------------
    def proxies(self) -> dict[str, str]:
        """Dependency name (``postgres``, ``redis``) -> Toxiproxy proxy name in front of it."""
        ...

    # -- credentials -----------------------------------------------------------------------------
    def issuer_secret(self) -> str:
        """The chat service's CHAT_ISSUER_SECRET, for load and probes to get tokens (never log it)."""
        ...
