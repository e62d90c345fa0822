"""The Kubernetes safety guard: faults only land in contexts and namespaces the scenario allows.

Checked before the first API call a Kubernetes target makes:

* the kube context must match one of the scenario's ``allowed_contexts`` (shell patterns, e.g.
  ``kind-*``); the kind target allows ``kind-*`` by default, staging has no default;
* a kind context must point at a loopback API server (a kind cluster runs on this machine): a context
  merely *named* ``kind-acme`` that points elsewhere is refused;
* the namespace must be one of ``allowed_namespaces`` (default: the target's own namespace); system
  namespaces (``kube-*``, ``default``, ``*-system``, ``local-path-storage``, ...) only when the scenario
  lists them literally — never through a pattern, never as the target's default;
* a context, cluster, server or namespace that looks like production (a name part containing ``prod``,
  ``prd`` or ``live``: ``prod-eu``, ``prodcluster``, ``acmeprod``, ``golive``; but not ``product``,
  ``preprod``, ``delivery``) is refused unless the scenario sets ``allow_production: true`` *and* lists
  the context literally.

Refusals are ``ConfigError`` (exit code 3) naming the offending value and the scenario field to change.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from resilience.errors import ConfigError

__all__ = ["KubePolicy", "KubeScope", "check_kube_scope", "is_loopback_server", "looks_like_production"]

_PRODUCTION_PARTS = ("prod", "prd", "live")
_NOT_PRODUCTION = re.compile(r"^(preprod\w*|product(?!ion)\w*|produc[ei]\w*|deliver\w*|olive\w*|alive|liveness\w*)$")
"""Name parts that contain the letters of a production word but are ordinary words (or pre-production)."""
_SYSTEM_NS_RE = re.compile(
    r"^(kube-.*|default|.*-system|local-path-storage|openshift(-.*)?|gke-.*|cattle-.*|ingress-nginx)$"
)


def looks_like_production(name: str) -> bool:
    """Whether a part of ``name`` (split at anything but letters and digits) contains ``prod``, ``prd`` or
    ``live``: ``gke_acme_prod-eu``, ``prod1``, ``prodcluster``, ``acmeprod``, ``golive`` and
    ``api.live.example`` match; ``product-dev``, ``preprod``, ``delivery`` and ``olive`` do not."""
    for part in re.split(r"[^a-z0-9]+", name.lower()):
        if any(word in part for word in _PRODUCTION_PARTS) and not _NOT_PRODUCTION.match(part):
            return True
    return False


def is_loopback_server(server: str) -> bool:
    """Whether the API server URL's host is a loopback address (127.0.0.0/8, ::1) or ``localhost``."""
    host = urlsplit(server if "//" in server else f"//{server}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class KubePolicy:
    """What the scenario allows a Kubernetes target to touch."""

    allowed_contexts: tuple[str, ...]
    """Shell patterns of kube context names (``kind-*``, ``staging-eu``)."""
    allowed_namespaces: tuple[str, ...]
    """Shell patterns of namespaces."""
    allow_production: bool = False
    """Also allow production-looking names; the context must then be listed literally."""
    namespaces_listed: bool = True
    """False when ``allowed_namespaces`` is the target's own namespace by default (not the scenario's list)."""
    loopback_only: bool = False
    """The API server must be on this machine (kind)."""

    @classmethod
    def for_target(
        cls,
        target: str,
        namespace: str,
        *,
        allowed_contexts: Iterable[str] | None = None,
        allowed_namespaces: Iterable[str] | None = None,
        allow_production: bool = False,
    ) -> KubePolicy:
        """The policy of target ``target`` with the scenario's lists, or the defaults where absent."""
        contexts = tuple(allowed_contexts) if allowed_contexts is not None else _default_contexts(target)
        namespaces = tuple(allowed_namespaces) if allowed_namespaces is not None else (namespace,)
        return cls(
            contexts,
            namespaces,
            allow_production,
            namespaces_listed=allowed_namespaces is not None,
            loopback_only=target == "kind",
        )


def _default_contexts(target: str) -> tuple[str, ...]:
    return ("kind-*",) if target == "kind" else ()


@dataclass(frozen=True)
class KubeScope:
    """Where a target would act: resolved from kubeconfig before any request is sent."""

    context: str
    namespace: str
    cluster: str = ""
    server: str = ""


def _matches(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def check_kube_scope(scope: KubeScope, policy: KubePolicy, *, target: str = "kubernetes") -> None:
    """Raise ConfigError unless ``scope`` is allowed by ``policy``; return quietly when it is."""
    where = f"targets.{target}"
    if not policy.allowed_contexts:
        raise ConfigError(
            f"{where}.allowed_contexts: empty; refusing kube context {scope.context!r} "
            "(list the contexts this scenario may touch)"
        )
    if not _matches(scope.context, policy.allowed_contexts):
        raise ConfigError(
            f"{where}.allowed_contexts: kube context {scope.context!r} is not allowed "
            f"(allowed: {', '.join(policy.allowed_contexts)})"
        )
    if not _matches(scope.namespace, policy.allowed_namespaces):
        raise ConfigError(
            f"{where}.allowed_namespaces: namespace {scope.namespace!r} is not allowed "
            f"(allowed: {', '.join(policy.allowed_namespaces) or 'none'})"
        )
    if _SYSTEM_NS_RE.match(scope.namespace) and not (
        policy.namespaces_listed and scope.namespace in policy.allowed_namespaces
    ):
        raise ConfigError(f"{where}.allowed_namespaces: system namespace {scope.namespace!r} must be listed literally")
    if policy.loopback_only and not is_loopback_server(scope.server):
        raise ConfigError(
            f"{where}.context: kube context {scope.context!r} points at {scope.server or 'no server'!r}, not a "
            "loopback address: a kind cluster runs on this machine (use the staging target for a remote cluster)"
        )
    _check_production(scope, policy, where)


def _check_production(scope: KubeScope, policy: KubePolicy, where: str) -> None:
    named = {"context": scope.context, "cluster": scope.cluster, "server": scope.server, "namespace": scope.namespace}
    hits = [f"{field} {value!r}" for field, value in named.items() if value and looks_like_production(value)]
    if not hits:
        return
    if not policy.allow_production:
        raise ConfigError(
            f"{where}.allow_production: refusing {hits[0]}: it looks like production "
            "(set allow_production: true and list the context literally to override)"
        )
    if scope.context not in policy.allowed_contexts:
        raise ConfigError(
            f"{where}.allowed_contexts: production-looking context {scope.context!r} must be listed literally, "
            "not through a pattern"
        )
