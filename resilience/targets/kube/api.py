"""The only module that talks to the Kubernetes API server (kubernetes client, raw JSON in and out).

Foreign errors (``ApiException``, urllib3 connection errors, kubeconfig errors) become ``TargetError`` or
``ConfigError`` here, with one line naming what was asked of which object.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from resilience.errors import ConfigError, TargetError
from resilience.safety.kube_guard import KubeScope

__all__ = [
    "ARGO_GROUP",
    "ARGO_PLURAL",
    "ARGO_VERSION",
    "CNPG_GROUP",
    "CNPG_PLURAL",
    "CNPG_VERSION",
    "IN_CLUSTER",
    "ConflictError",
    "KubeApi",
    "connect",
    "retry_conflicts",
]

log = logging.getLogger(__name__)

CNPG_GROUP = "postgresql.cnpg.io"
CNPG_VERSION = "v1"
CNPG_PLURAL = "clusters"
ARGO_GROUP = "argoproj.io"
ARGO_VERSION = "v1alpha1"
ARGO_PLURAL = "rollouts"
_ROLLOUT = (ARGO_GROUP, ARGO_VERSION, ARGO_PLURAL)

Json = dict[str, Any]


class ConflictError(TargetError):
    """The object changed since it was read (409 Conflict on a patch carrying a stale resourceVersion): read again."""


def _kubeconfig_path(explicit: str | None) -> str:
    """The kubeconfig: the option, else $KUBECONFIG (a path list, merged as kubectl does), else ~/.kube/config."""
    return explicit or os.environ.get("KUBECONFIG") or "~/.kube/config"


IN_CLUSTER = "in-cluster"
"""The context name of the pod's ServiceAccount credentials (list it in allowed_contexts to run in a Job)."""


def _in_cluster(namespace: str) -> tuple[KubeScope, client.ApiClient]:
    """The mounted ServiceAccount token and CA, and $KUBERNETES_SERVICE_HOST/PORT (as kubectl in a pod)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise ConfigError(f"in_cluster: {exc} (run inside a pod with a ServiceAccount token mounted)") from exc
    scope = KubeScope(IN_CLUSTER, namespace, cluster=IN_CLUSTER, server=str(configuration.host))
    return scope, client.ApiClient(configuration)


def connect(
    kubeconfig: str | None, context: str | None, namespace: str, *, in_cluster: bool = False
) -> tuple[KubeScope, client.ApiClient]:
    """Resolve the context from kubeconfig (or the pod's ServiceAccount) and build its client; sends nothing."""
    if in_cluster:
        return _in_cluster(namespace)
    path = _kubeconfig_path(kubeconfig)
    if not any(Path(p).expanduser().is_file() for p in path.split(os.pathsep) if p):
        raise ConfigError(f"kubeconfig {path}: not found (set KUBECONFIG or targets.*.kubeconfig)")
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
        names = {c["name"]: c for c in contexts}
        chosen = context or (active or {}).get("name")
        if not chosen or chosen not in names:
            raise ConfigError(f"kubeconfig {path}: no context {chosen!r} (have: {', '.join(sorted(names)) or 'none'})")
        api_client = config.new_client_from_config(config_file=path, context=chosen)  # type: ignore[no-untyped-call]
    except ConfigException as exc:
        raise ConfigError(f"kubeconfig {path}: {exc}") from exc
    cluster = str(names[chosen].get("context", {}).get("cluster", ""))
    scope = KubeScope(chosen, namespace, cluster=cluster, server=str(api_client.configuration.host))
    return scope, api_client


@dataclass
class KubeApi:
    """Namespaced calls the target makes, returning the API server's JSON as dicts."""

    api_client: client.ApiClient
    namespace: str
    timeout_s: float = 10.0

    def _call(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        missing_ok: bool = False,
        forbidden_ok: bool = False,
        **kw: Any,
    ) -> Any:
        """Call ``fn``; None for 404 when ``missing_ok``, ``{}`` for 403 when ``forbidden_ok``."""
        try:
            response = fn(*args, _preload_content=False, _request_timeout=self.timeout_s, **kw)
        except ApiException as exc:
            if missing_ok and exc.status == 404:
                return None
            if forbidden_ok and exc.status == 403:
                return {}
            reason = _reason(exc)
            if exc.status == 409:
                raise ConflictError(f"kubernetes: {what}: changed meanwhile: {reason}") from exc
            raise TargetError(f"kubernetes: {what} in namespace {self.namespace!r} failed: {reason}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            host = self.api_client.configuration.host
            raise TargetError(f"kubernetes: {what}: API server {host} unreachable: {exc}") from exc
        data = response.data
        return json.loads(data) if data else {}

    # -- cluster ---------------------------------------------------------------------------------
    def version(self) -> Json:
        """GET /version."""
        result: Json = self._call("read server version", client.VersionApi(self.api_client).get_code)
        return result

    def namespace_exists(self) -> bool:
        """GET /api/v1/namespaces/{ns}; a namespaced Role cannot read it (403), which counts as existing."""
        core = client.CoreV1Api(self.api_client)
        found = self._call("read namespace", core.read_namespace, self.namespace, missing_ok=True, forbidden_ok=True)
        return found is not None

    # -- pods ------------------------------------------------------------------------------------
    def list_pods(self, selector: str) -> list[Json]:
        """GET pods?labelSelector=..."""
        core = client.CoreV1Api(self.api_client)
        kw: dict[str, Any] = {"label_selector": selector} if selector else {}
        result = self._call(f"list pods {selector!r}", core.list_namespaced_pod, self.namespace, **kw)
        items: list[Json] = result.get("items") or []
        return items

    def list_nodes(self) -> list[Json]:
        """GET /api/v1/nodes (cluster-scoped: the harness ClusterRole of harness.rbac.nodes)."""
        core = client.CoreV1Api(self.api_client)
        result = self._call("list nodes", core.list_node)
        items: list[Json] = result.get("items") or []
        return items

    def delete_pod(self, name: str, grace_period_s: int | None) -> bool:
        """DELETE the pod (``gracePeriodSeconds`` when given); False when it was already gone."""
        core = client.CoreV1Api(self.api_client)
        kw: dict[str, Any] = {} if grace_period_s is None else {"grace_period_seconds": grace_period_s}
        deleted = self._call(
            f"delete pod {name}", core.delete_namespaced_pod, name, self.namespace, missing_ok=True, **kw
        )
        return deleted is not None

    def list_endpoint_slices(self, service: str) -> list[Json]:
        """GET endpointslices?labelSelector=kubernetes.io/service-name=<service>."""
        discovery = client.DiscoveryV1Api(self.api_client)
        selector = f"kubernetes.io/service-name={service}"
        result = self._call(
            f"list endpointslices of {service}",
            discovery.list_namespaced_endpoint_slice,
            self.namespace,
            label_selector=selector,
        )
        items: list[Json] = result.get("items") or []
        return items

    # -- deployments -----------------------------------------------------------------------------
    def read_deployment(self, name: str) -> Json:
        """GET the Deployment."""
        apps = client.AppsV1Api(self.api_client)
        result: Json = self._call(f"read deployment {name}", apps.read_namespaced_deployment, name, self.namespace)
        return result

    def patch_deployment(self, name: str, body: Json) -> Json:
        """PATCH the Deployment with a JSON merge patch (``metadata.resourceVersion`` in it makes it conditional)."""
        apps = client.AppsV1Api(self.api_client)
        result: Json = self._call(
            f"patch deployment {name}",
            apps.patch_namespaced_deployment,
            name,
            self.namespace,
            body,
            _content_type="application/merge-patch+json",
        )
        return result

    def list_replicasets(self, selector: str) -> list[Json]:
        """GET replicasets?labelSelector=..."""
        apps = client.AppsV1Api(self.api_client)
        result = self._call(
            f"list replicasets {selector!r}", apps.list_namespaced_replica_set, self.namespace, label_selector=selector
        )
        items: list[Json] = result.get("items") or []
        return items

    # -- secrets ---------------------------------------------------------------------------------
    def read_secret(self, name: str) -> dict[str, str]:
        """GET the Secret; its data decoded (never logged)."""
        core = client.CoreV1Api(self.api_client)
        result = self._call(f"read secret {name}", core.read_namespaced_secret, name, self.namespace)
        data = result.get("data") or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    # -- custom resources: CloudNativePG, Argo Rollouts -------------------------------------------
    def _custom_call(self, what: str, method: str, crd: tuple[str, str, str], name: str, *args: Any, **kw: Any) -> Any:
        group, version, plural = crd
        fn = getattr(client.CustomObjectsApi(self.api_client), method)
        where = f"{what} {group} {plural.removesuffix('s')} {name}"
        return self._call(where, fn, group, version, self.namespace, plural, name, *args, **kw)

    def _cluster_call(self, what: str, method: str, name: str, *args: Any, **kw: Any) -> Json:
        result: Json = self._custom_call(what, method, (CNPG_GROUP, CNPG_VERSION, CNPG_PLURAL), name, *args, **kw)
        return result

    def read_cluster(self, name: str) -> Json:
        """GET the CloudNativePG Cluster."""
        return self._cluster_call("read", "get_namespaced_custom_object", name)

    def patch_cluster_status(self, name: str, body: Json) -> Json:
        """PATCH the Cluster's status subresource with a JSON merge patch."""
        return self._cluster_call(
            "patch status of",
            "patch_namespaced_custom_object_status",
            name,
            body,
            _content_type="application/merge-patch+json",
        )

    def read_rollout(self, name: str) -> Json | None:
        """GET the Argo Rollout; None when there is none (404: no such Rollout, or the CRD is not installed)."""
        result: Json | None = self._custom_call("read", "get_namespaced_custom_object", _ROLLOUT, name, missing_ok=True)
        return result

    def patch_rollout(self, name: str, body: Json) -> Json:
        """PATCH the Rollout with a JSON merge patch (``metadata.resourceVersion`` in it makes it conditional)."""
        return self._merge_patch_rollout("patch", "patch_namespaced_custom_object", name, body)

    def patch_rollout_status(self, name: str, body: Json) -> Json:
        """PATCH the Rollout's status subresource with a JSON merge patch (``kubectl argo rollouts promote``)."""
        return self._merge_patch_rollout("patch status of", "patch_namespaced_custom_object_status", name, body)

    def _merge_patch_rollout(self, what: str, method: str, name: str, body: Json) -> Json:
        merge = "application/merge-patch+json"
        result: Json = self._custom_call(what, method, _ROLLOUT, name, body, _content_type=merge)
        return result


def _reason(exc: ApiException) -> str:
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return f"{exc.status} {message or exc.reason}"


T = TypeVar("T")


def retry_conflicts(attempt: Callable[[], T], attempts: int) -> T:
    """Run ``attempt`` (which reads, then patches guarded by resourceVersion) until it meets no conflict."""
    for n in range(1, attempts + 1):
        try:
            return attempt()
        except ConflictError:
            if n == attempts:
                raise
            log.info("object changed while patching; reading again (%d/%d)", n, attempts)
    raise AssertionError("unreachable")  # pragma: no cover
