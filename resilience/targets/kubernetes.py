"""The Kubernetes target: the chat stack of deploy/chart on a kind or staging cluster.

Nothing here creates or deletes a cluster or a Helm release: ``up`` checks that the API server answers
and the stack is healthy, ``down`` does nothing (``make kind-down`` / ``helm uninstall`` do that). Every
call goes through the kube context and namespace the safety guard (``resilience.safety.kube_guard``)
accepted before the first request.

* pods: ``list_namespaced_pod(label_selector=...)``; kill = delete with ``gracePeriodSeconds`` 0 (SIGKILL)
  or the pod's own grace period (SIGTERM). ``plan_kill`` returns exactly the pods ``kill`` would delete
  (same seed, same pods -> same choice), for ``--dry-run``.
* database: CloudNativePG (``_cnpg``); failover deletes the primary pod, switchover sets the Cluster's
  ``status.targetPrimary``.
* releases: CHAT_RELEASE (or the image) of the chat Deployment; rollback returns to the previous
  ReplicaSet (``_rollout``).
* network faults: the in-cluster Toxiproxy (proxies ``postgres`` and ``redis``), reached through the
  ``toxiproxy`` endpoint.
* endpoints: kind -> NodePorts mapped to 127.0.0.1 by deploy/kind/cluster.yaml; staging -> the URLs the
  scenario gives (``endpoints``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from resilience.errors import ConfigError, ResilienceError, TargetError
from resilience.safety.kube_guard import KubePolicy, KubeScope, check_kube_scope
from resilience.safety.redact import register_secrets
from resilience.targets.base import DbNode, Endpoints, FailoverMode, Pod, Progress, Status
from resilience.targets.kube import cnpg as kube_cnpg
from resilience.targets.kube import observe as kube_observe
from resilience.targets.kube import rollout as kube_rollout
from resilience.targets.kube.api import KubeApi, connect, retry_conflicts
from resilience.targets.kube.options import ReleaseNames, parse_options
from resilience.targets.kube.pods import (
    choose_victims,
    grace_period,
    is_finished,
    is_terminating,
    pod_from_json,
    victim_count,
)
from resilience.targets.selector import parse_selector

__all__ = ["KubernetesTarget"]

log = logging.getLogger(__name__)

Json = dict[str, Any]
_ENDPOINT_KEYS = ("chat", "toxiproxy", "postgres", "redis")


NOT_APPLICABLE = {
    FailoverMode.PATRONI_CRASH: "CloudNativePG's HA agent is the instance manager, PID 1 of the postgres "
    "container, so it cannot die while PostgreSQL keeps running; deleting the pod is primary-crash "
    "(experiments/db-failover.yaml), a graceful handover is switchover",
    FailoverMode.POSTMASTER_KILL: "a fault of the local stack's processes (use primary-crash)",
}
"""Failover modes with no faithful equivalent on CloudNativePG, and why (shown by --dry-run and the error)."""

_ATTEMPTS = 3
"""Tries of a read-modify-patch when the object changed in between (the controllers write status often)."""


def _http_ok(url: str) -> tuple[bool, str]:
    """Whether the harness reaches ``url`` from where it runs (a NodePort mapping, a port-forward, ...)."""
    try:
        response = requests.get(url, timeout=3)
    except requests.RequestException as exc:
        return False, f"{url}: {type(exc).__name__}"
    return response.status_code == 200, f"{url}: HTTP {response.status_code}"


class KubernetesTarget:
    """The Target protocol on a Kubernetes cluster running deploy/chart (``kind`` or ``staging``)."""

    def __init__(self, *, name: str, **options: Any) -> None:
        self.name = name
        self.options = parse_options(name, options)
        opts = self.options
        policy = KubePolicy.for_target(
            name,
            opts.namespace,
            allowed_contexts=opts.allowed_contexts,
            allowed_namespaces=opts.allowed_namespaces,
            allow_production=opts.allow_production,
        )
        self.scope, api_client = connect(opts.kubeconfig, opts.context, opts.namespace, in_cluster=opts.in_cluster)
        try:
            check_kube_scope(self.scope, policy, target=name)
        except ConfigError:
            api_client.close()  # type: ignore[no-untyped-call]
            raise
        self._api = KubeApi(api_client, opts.namespace, opts.request_timeout_s)
        self._expected: dict[str, int] = {}
        self._endpoints: Endpoints | None = None
        names = ReleaseNames.of(opts)
        self.chat_deployment, self.pg_cluster = names.chat_deployment, names.pg_cluster
        self.chat_secret, self.db_secret = names.chat_secret, names.db_secret

    def node_access(self) -> tuple[KubeScope, KubeApi]:
        """The guarded scope and API, for node faults (resilience.faults.nodes)."""
        return self.scope, self._api

    # -- lifecycle -------------------------------------------------------------------------------
    def up(self, *, progress: Progress | None = None) -> Endpoints:
        """Check the API server answers and every component is healthy; never creates anything."""
        say = progress or (lambda line: log.info("%s", line))
        version = self._api.version()
        say(f"API server {self.scope.server} reachable (Kubernetes {version.get('gitVersion', '?')})")
        if not self._api.namespace_exists():
            raise TargetError(
                f"kubernetes: namespace {self.scope.namespace!r} does not exist in context {self.scope.context!r} "
                "(install the chart: make kind-up, or helm install with deploy/values/staging.yaml)"
            )
        checks: list[tuple[str, Callable[[], tuple[bool, str]]]] = [
            ("chat deployment", self._chat_rollout_state),
            ("redis", lambda: self._pods_ready("app=redis")),
            ("toxiproxy", lambda: self._pods_ready("app=toxiproxy")),
            ("postgres", self._db_state),
        ]
        for what, check in checks:
            waited = self._poll(check, self.options.up_timeout_s, what)
            say(f"{what} healthy ({waited:.1f} s)")
        endpoints = self.endpoints()
        for url in (f"{endpoints.chat}/readyz", f"{endpoints.toxiproxy}/version"):
            waited = self._poll(functools.partial(_http_ok, url), self.options.up_timeout_s, f"{url} reachable")
            say(f"{url} answers ({waited:.1f} s)")
        return endpoints

    def down(self, *, purge: bool = False) -> None:
        """Nothing to stop: the harness never deletes a cluster or a release (``make kind-down`` does)."""
        log.info("target %s: down is a no-op (purge=%s); use make kind-down or helm uninstall", self.name, purge)

    def is_up(self) -> bool:
        """Whether the API server answers and the chat Deployment exists."""
        try:
            self._api.version()
            return self._api.namespace_exists() and bool(self._api.read_deployment(self.chat_deployment))
        except TargetError:
            return False

    def status(self) -> Status:
        """Every pod of the release with its health and restarts, the database state and the endpoints."""
        components = tuple(self.pods(f"app.kubernetes.io/instance={self.options.release}"))
        checks = {"chat": self._chat_rollout_state, "postgres": self._db_state}
        states = {}
        for what, check in checks.items():
            try:
                states[what] = check()
            except TargetError as exc:
                states[what] = (False, str(exc))
        healthy = bool(components) and all(p.ready for p in components) and all(ok for ok, _ in states.values())
        try:
            endpoints: Endpoints | None = self.endpoints()
        except ResilienceError:
            endpoints = None
        extra = {
            "context": self.scope.context,
            "namespace": self.scope.namespace,
            "checks": {what: {"healthy": ok, "detail": detail} for what, (ok, detail) in states.items()},
        }
        return Status(self.name, healthy, components, endpoints, extra)

    def endpoints(self) -> Endpoints:
        """Configured URLs (staging), or the kind NodePorts on ``host`` with the database URL from its Secret."""
        if self._endpoints is None:
            self._endpoints = self._configured_endpoints() if self.options.endpoints else self._kind_endpoints()
        return self._endpoints

    def _configured_endpoints(self) -> Endpoints:
        given = dict(self.options.endpoints or {})
        missing = [k for k in _ENDPOINT_KEYS if not given.get(k)]
        if missing:
            raise ConfigError(f"targets.{self.name}.endpoints: missing {', '.join(missing)}")
        return Endpoints(
            chat=given["chat"],
            toxiproxy=given["toxiproxy"],
            postgres=self._with_db_credentials(given["postgres"]),
            redis=given["redis"],
            prometheus=given.get("prometheus"),
        )

    def _with_db_credentials(self, url: str) -> str:
        """``url`` as given when it has a password, else with the user and password of the db Secret."""
        parts = urlsplit(url)
        if parts.password is not None or not parts.hostname:
            return url
        creds = self._api.read_secret(self.db_secret)
        user = quote(parts.username or creds.get("username", "chat"), safe="")
        netloc = f"{user}:{quote(creds.get('password', ''), safe='')}@{parts.netloc.rpartition('@')[2]}"
        return urlunsplit(parts._replace(netloc=netloc))

    def _kind_endpoints(self) -> Endpoints:
        host, ports = self.options.host, self.options.node_ports
        creds = self._api.read_secret(self.db_secret)
        register_secrets([creds.get("password", "")])
        user, password = quote(creds.get("username", "chat"), safe=""), quote(creds.get("password", ""), safe="")
        return Endpoints(
            chat=f"http://{host}:{ports['chat']}",
            toxiproxy=f"http://{host}:{ports['toxiproxy']}",
            postgres=f"postgresql://{user}:{password}@{host}:{ports['postgres']}/{self.options.database}",
            redis=f"redis://{host}:{ports['redis']}/0",
        )

    def issuer_secret(self) -> str:
        """CHAT_ISSUER_SECRET from the chat Secret, for load and probes to get tokens (never logged)."""
        secret = self._api.read_secret(self.chat_secret)
        if "issuer-secret" not in secret:
            raise TargetError(f"kubernetes: secret {self.chat_secret} has no key issuer-secret")
        register_secrets([v for v in secret.values() if isinstance(v, str)])  # masked in logs and results
        return secret["issuer-secret"]

    # -- pods ------------------------------------------------------------------------------------
    def pods(self, selector: str = "") -> list[Pod]:
        """Pods of the namespace matching the label selector, sorted by name (finished Job pods left out)."""
        return sorted((pod_from_json(o) for o in self._live_pods(str(parse_selector(selector)))), key=lambda p: p.name)

    def _live_pods(self, selector: str) -> list[Json]:
        return [o for o in self._api.list_pods(selector) if not is_finished(o)]

    def plan_kill(self, selector: str, *, count: int | None = None, percent: float | None = None) -> list[Pod]:
        """Exactly the pods ``kill`` would delete now (for ``--dry-run``); sends no delete."""
        return self._plan(selector, count, percent)[0]

    def _plan(self, selector: str, count: int | None, percent: float | None) -> tuple[list[Pod], int]:
        text = str(parse_selector(selector))
        if not text:
            raise ConfigError("kill: an empty selector would match every pod of the namespace; name the pods")
        live = [pod_from_json(o) for o in self._live_pods(text) if not is_terminating(o)]
        if not live:
            raise TargetError(f"kill: no running pod matches {text!r} in namespace {self.scope.namespace!r}")
        n = victim_count(len(live), count, percent)
        return choose_victims(live, n, self.options.seed, text), len(live)

    def kill(
        self, selector: str, *, count: int | None = None, percent: float | None = None, signal: str = "SIGKILL"
    ) -> list[Pod]:
        """Delete the planned pods (grace period 0 for SIGKILL); their controllers replace them."""
        grace = grace_period(signal)
        victims, live = self._plan(selector, count, percent)
        self._expected[str(parse_selector(selector))] = live
        for pod in victims:
            if not self._api.delete_pod(pod.name, grace):
                log.info("pod %s was already gone", pod.name)
        log.info("killed %s with %s: %s", selector, signal, ", ".join(p.name for p in victims))
        return victims

    def wait_ready(self, selector: str, *, timeout: float = 60.0) -> float:
        """Wait until no matching pod is terminating, all are ready, and as many as before the last kill."""
        text = str(parse_selector(selector))
        return self._poll(lambda: self._pods_ready(text), timeout, f"pods {text!r} ready")

    def _pods_ready(self, selector: str) -> tuple[bool, str]:
        objs = self._live_pods(selector)
        terminating = sum(1 for o in objs if is_terminating(o))
        ready = sum(1 for o in objs if pod_from_json(o).ready)
        want = max(1, self._expected.get(selector, 1))
        if terminating or ready < want or ready < len(objs):
            return False, f"{ready} of {max(want, len(objs) - terminating)} ready, {terminating} terminating"
        return True, f"{ready} ready"

    # -- database --------------------------------------------------------------------------------
    def _db_objects(self) -> tuple[list[Json], Json]:
        return self._api.list_pods(kube_cnpg.instance_selector(self.pg_cluster)), self._api.read_cluster(
            self.pg_cluster
        )

    def _db_state(self) -> tuple[bool, str]:
        pods, cluster = self._db_objects()
        healthy, reason = kube_cnpg.cluster_health(pods, cluster)
        if not healthy:
            return healthy, reason
        service = kube_cnpg.rw_service(self.pg_cluster)
        slices = self._api.list_endpoint_slices(service)
        routed, why = kube_cnpg.routing_health(kube_cnpg.primary_of(pods, cluster), slices, service)
        return routed, f"{reason}; {why}"

    def db_nodes(self) -> list[DbNode]:
        """The CloudNativePG instances with their roles."""
        return kube_cnpg.db_nodes(*self._db_objects())

    def observers(self) -> dict[str, kube_observe.Reader]:
        """CNPG status, the -rw EndpointSlices and the chat pods, for the failover anatomy."""
        return kube_observe.readers(self._api, self.pg_cluster)

    def db_primary(self) -> str:
        """The current primary instance (pod name)."""
        return kube_cnpg.primary_of(*self._db_objects())

    @property
    def toxiproxy_service(self) -> str:
        """Where the fault proxy's API is reached (for --dry-run): the configured URL or the NodePort."""
        if self.options.endpoints:
            return str(self.options.endpoints.get("toxiproxy", "?"))
        return f"http://{self.options.host}:{self.options.node_ports['toxiproxy']}"

    def not_applicable(self, mode: str) -> str:
        """Why failover mode ``mode`` is not applicable on Kubernetes ('' when it is)."""
        return next((why for m, why in NOT_APPLICABLE.items() if m.value == mode), "")

    def failover_db(self, mode: FailoverMode = FailoverMode.PRIMARY_CRASH) -> str:
        """Provoke a failover of the CloudNativePG cluster; return the primary failed over from.

        * primary-crash: delete the primary pod with grace period 0 (postgres and its instance manager die
          at once); the operator promotes the most advanced standby.
        * switchover: set the Cluster's status.targetPrimary to the first ready replica (``cnpg promote``).

        patroni-crash and postmaster-kill are not applicable (ConfigError): see ``NOT_APPLICABLE``.
        """
        if mode in NOT_APPLICABLE:
            raise ConfigError(f"failover mode {mode.value} is not applicable on Kubernetes: {NOT_APPLICABLE[mode]}")
        if mode is FailoverMode.SWITCHOVER:
            return retry_conflicts(self._switchover, _ATTEMPTS)
        primary = self.db_primary()
        self._api.delete_pod(primary, 0)
        log.info("%s: deleted primary pod %s", mode.value, primary)
        return primary

    def _switchover(self) -> str:
        pods, cluster = self._db_objects()
        primary = kube_cnpg.primary_of(pods, cluster)
        target, body = kube_cnpg.switchover_patch(cluster, pods)
        self._api.patch_cluster_status(self.pg_cluster, body)
        log.info("switchover %s -> %s requested", primary, target)
        return primary

    def wait_db_healthy(self, *, timeout: float = 60.0) -> float:
        """Wait for a healthy Cluster (one ready primary, every instance ready) whose -rw Service routes to it."""
        return self._poll(self._db_state, timeout, "postgres healthy")

    # -- releases --------------------------------------------------------------------------------
    def release(self) -> str:
        """CHAT_RELEASE of the chat Deployment's pod template."""
        return kube_rollout.release_of(self._api.read_deployment(self.chat_deployment), self.options.chat_container)

    def _patch_chat(self, build: Callable[[Json, list[Json]], Json | None], *, attempts: int = _ATTEMPTS) -> Json:
        """Read the chat Deployment and its ReplicaSets, send ``build``'s merge patch; re-read on a conflict.

        Every patch carries the resourceVersion it was built from, so a concurrent change (the controller
        updating status) is refused with 409 Conflict instead of overwritten; it is then rebuilt.
        """

        def attempt() -> Json:
            deployment = self._api.read_deployment(self.chat_deployment)
            labels = deployment["spec"]["selector"].get("matchLabels") or {}
            replicasets = self._api.list_replicasets(",".join(f"{k}={v}" for k, v in sorted(labels.items())))
            patch = build(deployment, replicasets)
            if patch is not None:
                self._api.patch_deployment(self.chat_deployment, patch)
            return deployment

        return retry_conflicts(attempt, attempts)

    def rollout(self, release: str, *, timeout: float = 120.0) -> None:
        """Patch the chat pod template to ``release`` and wait for the Deployment's rolling update."""
        container = self.options.chat_container
        self._patch_chat(lambda dep, rss: kube_rollout.rollout_patch(dep, rss, release, container))
        log.info("rolling out release %s to %s", release, self.chat_deployment)
        self._poll(self._chat_rollout_state, timeout, f"rollout of release {release!r}")

    def rollback(self, *, timeout: float = 120.0) -> str:
        """Return to the ReplicaSet before the harness's rollout (else the previous revision); idempotent."""
        self._patch_chat(kube_rollout.rollback_patch)
        self._poll(self._chat_rollout_state, timeout, "rollback")
        return self.release()

    def scale(self, replicas: int, *, timeout: float = 120.0) -> int:
        """Set the chat Deployment's replica count and wait for it; return the previous count.

        With the HPA enabled (staging values) the autoscaler keeps its own bounds: scale inside them.
        """
        if replicas < 0:
            raise ConfigError(f"scale: replicas must be >= 0 (got {replicas})")
        before = self._patch_chat(lambda dep, _rss: kube_rollout.scale_patch(dep, replicas))
        self._poll(self._chat_rollout_state, timeout, f"scale to {replicas}")
        return int(before["spec"].get("replicas", 1))

    def _chat_rollout_state(self) -> tuple[bool, str]:
        return kube_rollout.rollout_state(self._api.read_deployment(self.chat_deployment))

    # -- network faults --------------------------------------------------------------------------
    def proxies(self) -> dict[str, str]:
        """Dependency -> proxy name in the in-cluster Toxiproxy (deploy/chart toxiproxy config)."""
        return {"postgres": "postgres", "redis": "redis"}

    # -- helpers ---------------------------------------------------------------------------------
    def _poll(self, check: Callable[[], tuple[bool, str]], timeout: float, what: str) -> float:
        """Call ``check`` until it holds; TargetError with its last reason after ``timeout`` seconds."""
        start = time.monotonic()
        while True:
            ok, reason = check()
            waited = time.monotonic() - start
            if ok:
                return waited
            if waited >= timeout:
                raise TargetError(f"kubernetes: {what} not reached after {timeout:.0f} s: {reason}")
            time.sleep(min(self.options.poll_interval_s, max(0.0, timeout - waited)))
