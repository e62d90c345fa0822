"""The Kubernetes safety guard: faults only land in contexts and namespaces the scenario allows.

Checked before the first API call a Kubernetes target makes:

* the kube context must match one of the scenario's ``allowed_contexts`` (shell patterns, e.g.
  ``kind-*``); the kind target allows ``kind-*`` by default, staging has no default;
* the namespace must be one of ``allowed_namespaces`` (default: the target's own namespace); system
  namespaces (``kube-*``, ``default``, ``*-system``) only when listed literally, never through a pattern;
* a context, cluster, server or namespace that looks like production (a word such as ``prod``,
  ``production``, ``prd``, ``live``) is refused unless the scenario sets ``allow_production: true``
  *and* lists the context literally.

Refusals are ``ConfigError`` (exit code 3) naming the offending value and the scenario field to change.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from resilience.errors import ConfigError

__all__ = ["KubePolicy", "KubeScope", "check_kube_scope", "looks_like_production"]

_PRODUCTION_RE = re.compile(r"(?<![a-z])(prod|production|prd|live)(?![a-z])")
_SYSTEM_NS_RE = re.compile(r"^(kube-.*|default|.*-system)$")


def looks_like_production(name: str) -> bool:
    """Whether ``name`` contains a production word (``prod``, ``production``, ``prd``, ``live``) on its own.

    Words are delimited by anything but a letter, so ``gke_acme_prod-eu``, ``prod1`` and ``api.live.example``
    match while ``product-dev`` and ``delivery`` do not.
    """
    return bool(_PRODUCTION_RE.search(name.lower()))


@dataclass(frozen=True)
class KubePolicy:
    """What the scenario allows a Kubernetes target to touch."""

    allowed_contexts: tuple[str, ...]
    """Shell patterns of kube context names (``kind-*``, ``staging-eu``)."""
    allowed_namespaces: tuple[str, ...]
    """Shell patterns of namespaces."""
    allow_production: bool = False
    """Also allow production-looking names; the context must then be listed literally."""

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
        return cls(contexts, namespaces, allow_production)


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
    if _SYSTEM_NS_RE.match(scope.namespace) and scope.namespace not in policy.allowed_namespaces:
        raise ConfigError(f"{where}.allowed_namespaces: system namespace {scope.namespace!r} must be listed literally")
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
