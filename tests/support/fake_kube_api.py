"""An HTTP-level fake of the Kubernetes API server, for testing the Kubernetes target.

No kube-apiserver (nor kind, k3s, kwok, envtest) can run on these machines, so this is a mock — the only
one the house rules allow, because no real thing can run here. It is a real HTTP server on 127.0.0.1
(port 0) that speaks just enough of the REST API for the requests the target sends, records every
request (method, path, query, content type, JSON body) so tests can assert them exactly, and imitates
the controllers whose effects the target waits for:

* ReplicaSet controller: a deleted pod owned by a ReplicaSet is replaced by a new ready pod;
* Deployment controller: a new pod template gets a new ReplicaSet (or an old one with the same template
  gets the next revision, as in a rollback); the rollout completes at once unless the template's
  CHAT_RELEASE is listed in ``stalled_releases`` (then it stays incomplete, like a failing readiness probe,
  with the Progressing condition of an exceeded progressDeadlineSeconds);
* CloudNativePG: a deleted instance pod comes back under the same name; deleting the primary promotes the
  first replica; ``status.targetPrimary`` set through the status subresource switches the primary over;
* Argo Rollouts (``serving_chart(rollouts=True)``): the chart's blue-green Rollout and its controller,
  modelled in tests/support/fake_kube_rollouts.py.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from resilience.targets import get_target
from resilience.targets.kubernetes import KubernetesTarget
from resilience.targets.selector import parse_selector
from tests.support import fake_kube_nodes, fake_kube_rollouts

__all__ = [
    "CHAT_DEPLOYMENT_PATH",
    "FakeKubeApi",
    "Recorded",
    "conflict",
    "expired",
    "forbidden",
    "kube_target",
    "not_found",
    "patch_test_failed",
]

Json = dict[str, Any]
NS = "resilience"
CHAT_DEPLOYMENT_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/resilience-chat"
"""The chart's chat Deployment (``serving_chart()`` without Argo Rollouts)."""
REVISION = "deployment.kubernetes.io/revision"
_RESOURCE = {
    ("api/v1", "pods"): "pods",
    ("api/v1", "secrets"): "secrets",
    ("apis/apps/v1", "deployments"): "deployments.apps",
    ("apis/apps/v1", "replicasets"): "replicasets.apps",
    ("apis/postgresql.cnpg.io/v1", "clusters"): "clusters.postgresql.cnpg.io",
    ("apis/discovery.k8s.io/v1", "endpointslices"): "endpointslices.discovery.k8s.io",
    (fake_kube_rollouts.PREFIX, "rollouts"): fake_kube_rollouts.RESOURCE,
}
"""URL prefix and plural -> the qualified resource the API server names in Status messages."""


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any


class _Error(Exception):
    """A failed request, answered with ``status`` (a ``Status`` body as kube-apiserver sends it)."""

    def __init__(self, status: Json) -> None:
        super().__init__(status["message"])
        self.code, self.status = int(status["code"]), status


# Status bodies in the exact shape kube-apiserver sends (k8s.io/apimachinery/pkg/api/errors: NewNotFound,
# NewConflict, NewForbidden, NewGenericServerResponse for a failed JSON patch, NewResourceExpired), as
# they appear on the wire, e.g. {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":
# "Operation cannot be fulfilled on pods \"x\": the object has been modified; please apply your changes to
# the latest version and try again","reason":"Conflict","details":{"name":"x","kind":"pods"},"code":409}.
def _status(code: int, reason: str, message: str, details: Json | None = None) -> Json:
    body: Json = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    body["reason"] = reason
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _details(resource: str, name: str | None) -> Json:
    plural, _, group = resource.partition(".")
    out: Json = {"name": name} if name else {}
    if group:
        out["group"] = group
    out["kind"] = plural
    return out


def not_found(resource: str, name: str) -> Json:
    """404: ``pods "x" not found``."""
    return _status(404, "NotFound", f'{resource} "{name}" not found', _details(resource, name))


def conflict(resource: str, name: str) -> Json:
    """409: a write carrying a resourceVersion that is no longer current."""
    message = (
        f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    return _status(409, "Conflict", message, _details(resource, name))


def forbidden(resource: str, name: str | None, verb: str, namespace: str, user: str) -> Json:
    """403: RBAC denied ``verb`` on ``resource`` (group after the dot) in ``namespace``."""
    plural, _, group = resource.partition(".")
    what = f'{resource} "{name}"' if name else resource
    message = (
        f'{what} is forbidden: User "{user}" cannot {verb} resource "{plural}" in API group "{group}" '
        f'in the namespace "{namespace}"'
    )
    return _status(403, "Forbidden", message, _details(resource, name))


def patch_test_failed(path: str) -> Json:
    """422: a JSON patch whose ``test`` operation failed (NewGenericServerResponse, reason Invalid)."""
    cause = {"reason": "FieldValueInvalid", "message": f"testing value {path} failed: test failed"}
    details = {"causes": [cause]}
    return _status(422, "Invalid", "the server rejected our request due to an error in our request", details)


def expired(resource_version: str) -> Json:
    """410: a list or watch from a resourceVersion that was compacted away."""
    return _status(410, "Expired", f"too old resource version: {resource_version} (999999)")


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def _json_patch(doc: Json, ops: list[Json]) -> Json:
    out = copy.deepcopy(doc)
    for op in ops:
        *parents, last = _pointer(op["path"])
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if op["op"] == "test":
            if node.get(last) != op["value"]:
                raise _Error(patch_test_failed(op["path"]))
        elif op["op"] in ("add", "replace"):
            node[last] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            node.pop(last)
        else:
            raise _Error(_status(422, "Invalid", f"unsupported op {op['op']}"))
    return out


def _merge_patch(doc: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(doc) if isinstance(doc, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_patch(out.get(k), v)
    return out


def _template_hash(template: Json) -> str:
    clean = copy.deepcopy(template)
    clean.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    return hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:10]


def _release(template: Json) -> str:
    env = template["spec"]["containers"][0].get("env") or []
    return next((e["value"] for e in env if e["name"] == "CHAT_RELEASE"), "good")


def pod_object(name: str, labels: dict[str, str], *, ready: bool = True, owner: Json | None = None) -> Json:
    """A pod as the API server returns it."""
    meta: Json = {"name": name, "namespace": NS, "labels": dict(labels), "uid": f"uid-{name}"}
    if owner:
        meta["ownerReferences"] = [owner]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "main", "image": "example"}]},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "main", "ready": ready, "restartCount": 0}],
        },
    }


@dataclass
class FakeKubeApi:
    """The fake API server: state, recorded requests, and a tiny controller loop run on each write."""

    namespaces: set[str] = field(default_factory=lambda: {NS})
    pods: dict[str, Json] = field(default_factory=dict)
    deployments: dict[str, Json] = field(default_factory=dict)
    replicasets: dict[str, Json] = field(default_factory=dict)
    secrets: dict[str, Json] = field(default_factory=dict)
    clusters: dict[str, Json] = field(default_factory=dict)
    nodes: dict[str, Json] = field(default_factory=dict)
    rollouts: dict[str, Json] = field(default_factory=dict)
    """Argo Rollouts (empty unless ``serving_chart(rollouts=True)`` or ``fake_kube_rollouts.add_rollout``)."""
    rollout_model: fake_kube_rollouts.RolloutModel = field(default_factory=fake_kube_rollouts.RolloutModel)
    """Empty unless ``add_nodes`` (tests/support/fake_kube_nodes.py) gave the cluster nodes."""
    evictions_refused: set[str] = field(default_factory=set)
    """Pods whose eviction a PodDisruptionBudget refuses (429), besides CloudNativePG's primary."""
    stalled_releases: set[str] = field(default_factory=set)
    stale_rw_routing: str | None = None
    """When set, the CNPG -rw Service's EndpointSlice keeps routing to this pod (routing not switched yet)."""
    bump_after_reads: int = 0
    """Change a Deployment's or Cluster's resourceVersion right after serving it this many times."""
    forbidden: set[tuple[str, str]] = field(default_factory=set)
    """(verb, resource[/subresource]) pairs answered 403 Forbidden, e.g. ("patch", "deployments.apps")."""
    expire_lists: int = 0
    """Answer this many list requests with 410 Expired."""
    requests: list[Recorded] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: int = 100

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeKubeApi:
        """Serve on 127.0.0.1 on a free port, in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _handle(self) -> None:
                fake._serve(self)

            do_GET = do_DELETE = do_PATCH = do_POST = do_PUT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-kube-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def write_kubeconfig(
        self, path: Path, *, context: str = "kind-resilience", cluster: str = "kind-resilience"
    ) -> Path:
        """A kubeconfig whose only context points at this server."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster, "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "fake-token"}}],
            "contexts": [{"name": context, "context": {"cluster": cluster, "user": "tester", "namespace": NS}}],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def writes(self) -> list[Recorded]:
        """Recorded requests other than GET."""
        return [r for r in self.requests if r.method != "GET"]

    # -- seeding ---------------------------------------------------------------------------------
    @classmethod
    def serving_chart(cls, *, rollouts: bool = False, auto_promotion: bool = True) -> Iterator[FakeKubeApi]:
        """A started fake holding what deploy/chart installs as release ``resilience`` (with
        ``argoRollouts.enabled`` when ``rollouts``: a blue-green Rollout instead of the Deployment); stopped
        afterwards."""
        api = cls()
        instance = {"app.kubernetes.io/instance": "resilience"}
        if rollouts:
            labels = {"app": "chat-api", **instance}
            fake_kube_rollouts.add_rollout(api, "resilience-chat", labels, auto_promotion=auto_promotion)
        else:
            api.add_deployment("resilience-chat", {"app": "chat-api", **instance}, replicas=3)
        api.add_cnpg_cluster("resilience-pg", instances=3)
        api.add_pod("resilience-redis-0", {"app": "redis", **instance})
        api.add_pod("resilience-toxiproxy-0", {"app": "toxiproxy", **instance})
        api.add_secret("resilience-db-app", {"username": "chat", "password": "s3cret/+"})
        api.add_secret("resilience-chat", {"jwt-secret": "jwt", "issuer-secret": "issuer-xyz"})
        api.start()
        try:
            yield api
        finally:
            api.stop()

    def _rv(self) -> str:
        self._counter += 1
        return str(self._counter)

    def add_nodes(self, workers: int = 3) -> list[str]:
        """A control-plane node and ``workers`` workers, every pod scheduled (tests/support/fake_kube_nodes.py)."""
        with self._lock:
            return fake_kube_nodes.add_nodes(self, workers)

    def add_secret(self, name: str, data: dict[str, str]) -> None:
        """A Secret with ``data`` (base64-encoded as the API returns it)."""
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        self.secrets[name] = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}

    def add_pod(self, name: str, labels: dict[str, str], *, ready: bool = True) -> None:
        """A bare pod (no controller)."""
        self.pods[name] = pod_object(name, labels, ready=ready)

    def add_deployment(self, name: str, labels: dict[str, str], *, replicas: int = 3, release: str = "good") -> None:
        """A complete Deployment at revision 1 with its ReplicaSet and ready pods."""
        template = {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "containers": [
                    {
                        "name": "chat",
                        "image": "resilience/chat:dev",
                        "env": [{"name": "CHAT_RELEASE", "value": release}],
                    }
                ]
            },
        }
        self.deployments[name] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": NS,
                "uid": f"uid-{name}",
                "generation": 1,
                "resourceVersion": self._rv(),
                "annotations": {},
                "labels": dict(labels),
            },
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)}, "template": template},
            "status": {},
        }
        self._reconcile_deployment(name)

    def add_cnpg_cluster(self, name: str, *, instances: int = 3) -> None:
        """A healthy CloudNativePG Cluster with ``name-1`` as primary."""
        for i in range(1, instances + 1):
            pod = f"{name}-{i}"
            role = "primary" if i == 1 else "replica"
            self.pods[pod] = pod_object(
                pod, {"cnpg.io/cluster": name, "cnpg.io/instanceRole": role, "role": role, "app": "postgres"}
            )
        self.clusters[name] = {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": name, "namespace": NS, "resourceVersion": self._rv()},
            "spec": {"instances": instances, "postgresql": {"synchronous": {"method": "any", "number": 1}}},
            "status": {
                "phase": "Cluster in healthy state",
                "currentPrimary": f"{name}-1",
                "targetPrimary": f"{name}-1",
                "instances": instances,
                "readyInstances": instances,
            },
        }

    # -- controllers -----------------------------------------------------------------------------
    def _reconcile_deployment(self, name: str) -> None:
        dep = self.deployments[name]
        template = dep["spec"]["template"]
        digest = _template_hash(template)
        uid = dep["metadata"]["uid"]
        owned = [rs for rs in self.replicasets.values() if rs["metadata"]["ownerReferences"][0]["uid"] == uid]
        top = max((int(rs["metadata"]["annotations"][REVISION]) for rs in owned), default=0)
        rs_name = f"{name}-{digest}"
        current = self.replicasets.get(rs_name)
        if current is not None:
            current["spec"]["replicas"] = dep["spec"]["replicas"]
        if current is None or int(current["metadata"]["annotations"][REVISION]) != top:
            rs_template = copy.deepcopy(template)
            rs_template["metadata"]["labels"]["pod-template-hash"] = digest
            self.replicasets[rs_name] = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name,
                    "namespace": NS,
                    "labels": dict(rs_template["metadata"]["labels"]),
                    "annotations": {REVISION: str(top + 1)},
                    "ownerReferences": [
                        {"kind": "Deployment", "name": name, "uid": dep["metadata"]["uid"], "controller": True}
                    ],
                },
                "spec": {"replicas": dep["spec"]["replicas"], "template": rs_template},
            }
            dep["metadata"]["annotations"][REVISION] = str(top + 1)
        want = dep["spec"]["replicas"]
        stalled = _release(template) in self.stalled_releases
        dep["status"] = {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": want + (1 if stalled else 0),
            "updatedReplicas": 1 if stalled else want,
            "readyReplicas": want,
            "availableReplicas": want,
        }
        if stalled:  # kube-controller-manager's condition once progressDeadlineSeconds passed (modelled as at once)
            message = f'ReplicaSet "{rs_name}" has timed out progressing.'
            dep["status"]["conditions"] = [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": message}
            ]
        else:
            self._replace_pods_of(name, rs_name)

    def _replace_pods_of(self, deployment: str, rs_name: str) -> None:
        uid = self.deployments[deployment]["metadata"]["uid"]
        siblings = {n for n, rs in self.replicasets.items() if rs["metadata"]["ownerReferences"][0]["uid"] == uid}
        for pod, obj in list(self.pods.items()):
            if (obj["metadata"].get("ownerReferences") or [{}])[0].get("name") in siblings:
                del self.pods[pod]
        rs = self.replicasets[rs_name]
        labels = dict(rs["spec"]["template"]["metadata"]["labels"])
        owner = {"kind": "ReplicaSet", "name": rs_name, "uid": f"uid-{rs_name}", "controller": True}
        for _ in range(rs["spec"]["replicas"]):
            name = f"{rs_name}-{self._rv()}"
            self.pods[name] = pod_object(name, labels, owner=owner)

    def _after_pod_delete(self, obj: Json) -> None:
        meta = obj["metadata"]
        owner = (meta.get("ownerReferences") or [{}])[0]
        if owner.get("kind") == "ReplicaSet":
            name = f"{owner['name']}-r{self._rv()}"
            self.pods[name] = pod_object(name, meta["labels"], owner=owner)
        cluster_name = meta["labels"].get("cnpg.io/cluster")
        if cluster_name in self.clusters:
            labels = dict(meta["labels"])
            if labels.get("cnpg.io/instanceRole") == "primary":
                replica = sorted(
                    p for p, o in self.pods.items() if o["metadata"]["labels"].get("cnpg.io/cluster") == cluster_name
                )[0]
                self._promote(cluster_name, replica)
                labels.update({"cnpg.io/instanceRole": "replica", "role": "replica"})
            self.pods[meta["name"]] = pod_object(meta["name"], labels)

    def _promote(self, cluster_name: str, new_primary: str) -> None:
        for obj in self.pods.values():
            labels = obj["metadata"]["labels"]
            if labels.get("cnpg.io/cluster") == cluster_name:
                role = "primary" if obj["metadata"]["name"] == new_primary else "replica"
                labels.update({"cnpg.io/instanceRole": role, "role": role})
        status = self.clusters[cluster_name]["status"]
        status.update(
            {"currentPrimary": new_primary, "targetPrimary": new_primary, "phase": "Cluster in healthy state"}
        )
        self.clusters[cluster_name]["metadata"]["resourceVersion"] = self._rv()

    # -- HTTP ------------------------------------------------------------------------------------
    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        content_type = handler.headers.get("Content-Type") or ""
        record = Recorded(handler.command, split.path, parse_qs(split.query), content_type, body)
        with self._lock:
            self.requests.append(record)
            try:
                code, payload = 200, self._route(record)
            except _Error as err:
                code, payload = err.code, err.status
        data = json.dumps(payload).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, r: Recorded) -> Json:
        parts = r.path.strip("/").split("/")
        if r.path.rstrip("/") == "/version":
            return {"major": "1", "minor": "31", "gitVersion": "v1.31.0"}
        if r.path == "/readyz":  # stands in for chat's /readyz when a test points the NodePorts here
            return {"status": "ok"}
        if self.nodes:
            fake_kube_nodes.schedule(self)
            answered = fake_kube_nodes.node_route(self, r, parts)
            if answered is not None:
                return answered
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4:
            if parts[3] not in self.namespaces:
                raise _Error(not_found("namespaces", parts[3]))
            return {"kind": "Namespace", "metadata": {"name": parts[3]}}
        if parts[0] == "api" and len(parts) >= 5:
            prefix, namespace, rest = "/".join(parts[:2]), parts[3], parts[4:]
        elif parts[0] == "apis" and len(parts) >= 6:
            prefix, namespace, rest = "/".join(parts[:3]), parts[4], parts[5:]
        else:
            raise _Error(_status(404, "NotFound", "the server could not find the requested resource"))
        if namespace not in self.namespaces:
            raise _Error(not_found("namespaces", namespace))
        return self._resource(r, prefix, rest)

    def _resource(self, r: Recorded, prefix: str, rest: list[str]) -> Json:
        kind, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)
        resource = _RESOURCE.get((prefix, kind), kind)
        verb = {"GET": "get" if name else "list", "DELETE": "delete", "PATCH": "patch"}.get(r.method, r.method)
        rbac = f"{resource}/{sub}" if sub else resource
        if (verb, rbac) in self.forbidden:
            raise _Error(forbidden(resource, name, verb, NS, "system:serviceaccount:resilience:resilience-harness"))
        handler = {
            (fake_kube_rollouts.PREFIX, "rollouts"): lambda: fake_kube_rollouts.route(self, r, name, sub),
            ("apis/discovery.k8s.io/v1", "endpointslices"): lambda: self._endpoint_slices(
                (r.query.get("labelSelector") or [""])[0]
            ),
        }.get((prefix, kind))
        if handler is not None:
            return handler()
        store = {
            ("api/v1", "pods"): self.pods,
            ("api/v1", "secrets"): self.secrets,
            ("apis/apps/v1", "deployments"): self.deployments,
            ("apis/apps/v1", "replicasets"): self.replicasets,
            ("apis/postgresql.cnpg.io/v1", "clusters"): self.clusters,
        }.get((prefix, kind))
        if store is None:
            raise _Error(_status(404, "NotFound", "the server could not find the requested resource"))
        if name is None and r.method == "GET" and self.expire_lists > 0:
            self.expire_lists -= 1
            raise _Error(expired(self._rv()))
        if name is None and r.method == "GET":
            selector = parse_selector((r.query.get("labelSelector") or [""])[0])
            items = [copy.deepcopy(o) for o in store.values() if selector.matches(o["metadata"].get("labels") or {})]
            return {"kind": "List", "metadata": {"resourceVersion": self._rv()}, "items": items}
        if name is not None and name not in store:
            raise _Error(not_found(resource, name))
        if r.method == "GET":
            served = copy.deepcopy(store[name])
            if kind in ("deployments", "clusters") and self.bump_after_reads > 0:
                self.bump_after_reads -= 1
                store[name]["metadata"]["resourceVersion"] = self._rv()
            return served
        if r.method == "DELETE" and kind == "pods":
            obj = store.pop(name)
            self._after_pod_delete(obj)
            return obj
        if r.method == "PATCH" and kind == "deployments":
            return self._patch_deployment(name, r)
        if r.method == "PATCH" and kind == "clusters" and sub == "status":
            return self._patch_cluster_status(name, r)
        raise _Error(_status(405, "MethodNotAllowed", f"{r.method} {r.path} not supported by the fake"))

    def _endpoint_slices(self, selector: str) -> Json:
        service = selector.removeprefix("kubernetes.io/service-name=")
        cluster = service.removesuffix("-rw")
        pods = (
            [self.stale_rw_routing]
            if self.stale_rw_routing
            else [
                name
                for name, o in self.pods.items()
                if o["metadata"]["labels"].get("cnpg.io/cluster") == cluster
                and o["metadata"]["labels"].get("cnpg.io/instanceRole") == "primary"
            ]
        )
        endpoints = [
            {"addresses": ["10.0.0.1"], "conditions": {"ready": True}, "targetRef": {"kind": "Pod", "name": name}}
            for name in pods
        ]
        item = {
            "metadata": {"name": f"{service}-abcde", "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": endpoints,
        }
        return {"kind": "EndpointSliceList", "metadata": {}, "items": [item] if service != cluster else []}

    def _patch_deployment(self, name: str, r: Recorded) -> Json:
        dep = self.deployments[name]
        if r.content_type == "application/json-patch+json":
            patched = _json_patch(dep, r.body)
        elif r.content_type == "application/merge-patch+json":
            wanted_rv = (r.body.get("metadata") or {}).get("resourceVersion")
            if wanted_rv is not None and wanted_rv != dep["metadata"]["resourceVersion"]:
                raise _Error(conflict("deployments.apps", name))
            patched = _merge_patch(dep, r.body)
        else:
            raise _Error(_status(415, "UnsupportedMediaType", f"unsupported patch type {r.content_type}"))
        if patched["spec"] != dep["spec"]:
            patched["metadata"]["generation"] += 1
        patched["metadata"]["resourceVersion"] = self._rv()
        self.deployments[name] = patched
        self._reconcile_deployment(name)
        return copy.deepcopy(self.deployments[name])

    def _patch_cluster_status(self, name: str, r: Recorded) -> Json:
        if r.content_type != "application/merge-patch+json":
            raise _Error(_status(415, "UnsupportedMediaType", f"unsupported patch type {r.content_type}"))
        cluster = self.clusters[name]
        wanted_rv = (r.body.get("metadata") or {}).get("resourceVersion")
        if wanted_rv is not None and wanted_rv != cluster["metadata"]["resourceVersion"]:
            raise _Error(conflict("clusters.postgresql.cnpg.io", name))
        cluster["status"] = _merge_patch(cluster["status"], r.body.get("status") or {})
        target = cluster["status"].get("targetPrimary")
        if target and target != cluster["status"].get("currentPrimary"):
            self._promote(name, target)
        return copy.deepcopy(cluster)


def kube_target(fake: FakeKubeApi, tmp_path: Path, name: str = "kind", **options: Any) -> KubernetesTarget:
    """A Kubernetes target whose kubeconfig (written under ``tmp_path``) points at ``fake``; polls every 50 ms
    unless ``poll_interval_s`` says otherwise."""
    options.setdefault("poll_interval_s", 0.05)
    target = get_target(name, kubeconfig=str(fake.write_kubeconfig(tmp_path / "kubeconfig")), **options)
    assert isinstance(target, KubernetesTarget)
    return target
