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
* releases: CHAT_RELEASE (or the image) of the chat Deployment, or of its Argo Rollout when the cluster runs
  one (``kube/workload``, read from the API each time); rollback returns to the previous ReplicaSet
  (``kube/rollout``); ``deploy`` follows a rolling Deployment update or a blue-green Rollout (``kube/deploys``).
* network faults: the in-cluster Toxiproxy (proxies ``postgres`` and ``redis``), reached through the
  ``toxiproxy`` endpoint.
* endpoints: kind -> NodePorts mapped to 127.0.0.1 by deploy/kind/cluster.yaml; staging -> the URLs the
  scenario gives (``endpoints``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from resilience.errors import ConfigError, ResilienceError, TargetError
from resilience.safety.kube_guard import KubePolicy, KubeScope, check_kube_scope
from resilience.safety.redact import register_secrets
from resilience.targets.base import DbNode, DeployResult, Endpoints, FailoverMode, Pod, Progress, Status
from resilience.targets.kube import argo
from resilience.targets.kube import cnpg as kube_cnpg
from resilience.targets.kube import endpoints as kube_endpoints
from resilience.targets.kube import observe as kube_observe
from resilience.targets.kube import rollout as kube_rollout
from resilience.targets.kube.api import KubeApi, connect, retry_conflicts
from resilience.targets.kube.deploys import run_deploy
from resilience.targets.kube.options import ReleaseNames, parse_options
from resilience.targets.kube.pods import (
    choose_victims,
    grace_period,
    is_finished,
    is_terminating,
    pod_from_json,
    victim_count,
)
from resilience.targets.kube.workload import ChatWorkload
from resilience.targets.selector import parse_selector

__all__ = ["KubernetesTarget"]

log = logging.getLogger(__name__)

Json = dict[str, Any]


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
        self._chat = ChatWorkload(self._api, self.chat_deployment, opts.chat_container)

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
            ("chat workload", self._chat_rollout_state),
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
        """Whether the API server answers and the chat Deployment (or Rollout) exists."""
        try:
            self._api.version()
            return self._api.namespace_exists() and bool(self._chat.read())
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
            secret = functools.partial(self._api.read_secret, self.db_secret)
            if self.options.endpoints:
                self._endpoints = kube_endpoints.configured(self.name, self.options, secret)
            else:
                self._endpoints = kube_endpoints.kind(self.options, secret)
        return self._endpoints

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
        """CHAT_RELEASE the chat pods serve (the Deployment's template; the Rollout's active ReplicaSet)."""
        return self._chat.release()

    def chat_kind(self) -> str:
        """``Rollout`` when the cluster runs the chart's Argo Rollout (read from the API now), else ``Deployment``."""
        return self._chat.kind()

    def describe_chat(self) -> str:
        """``deployment <name>`` or ``rollout <name> (...)``, for --dry-run."""
        return self._chat.describe()

    def _patch_chat(self, build: Callable[[Json, list[Json]], Json | None], *, attempts: int = _ATTEMPTS) -> Json:
        """Read-modify-patch of the chat workload, guarded by resourceVersion (``ChatWorkload``); the object read."""
        return self._chat.read_modify_patch(build, attempts)[0]

    def rollout(self, release: str, *, timeout: float = 120.0) -> None:
        """Patch the chat pod template to ``release``; wait until it serves (``ChatWorkload.serving``)."""
        container = self.options.chat_container
        self._patch_chat(lambda dep, rss: kube_rollout.rollout_patch(dep, rss, release, container))
        log.info("rolling out release %s to %s", release, self.chat_deployment)
        self._poll(self._chat.serving, timeout, f"rollout of release {release!r}")

    def rollback(self, *, timeout: float = 120.0) -> str:
        """Return to the ReplicaSet before the harness's rollout (else the previous revision); idempotent."""
        self._patch_chat(kube_rollout.rollback_patch)
        self._poll(self._chat_rollout_state, timeout, "rollback")
        return self.release()

    def deploy(
        self,
        release: str,
        strategy: str = "rolling",
        *,
        analysis: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        timeout: float = 120.0,
    ) -> DeployResult:
        """Rolling (Deployment) or blue-green (Argo Rollout) deploy, followed until it completed, halted or
        the Rollout controller rolled it back (``kube/deploys``); ConfigError when not applicable here."""
        return run_deploy(
            self._chat,
            release,
            strategy,
            analysis=analysis,
            options=options,
            timeout=timeout,
            poll_s=self.options.poll_interval_s,
            attempts=_ATTEMPTS,
        )

    def deploy_in_progress(self) -> bool:
        """The chat workload is not rolled out: a deploy interrupted, halted, or aborted by Argo Rollouts."""
        return self._chat.in_progress()

    def deploy_not_applicable(self, strategy: str, *, system_rollback: bool, analysis: bool) -> str:
        """Why such a deploy cannot run on this cluster now ('' when it can); reads the chat workload's kind."""
        return argo.deploy_not_applicable(
            self.chat_kind(), strategy, system_rollback=system_rollback, analysis=analysis
        )

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
        return self._chat.state()

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
