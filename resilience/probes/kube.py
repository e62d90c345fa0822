"""Kubernetes probes from chaostoolkit-kubernetes, through the connection the safety guard checked.

Only for the kind and staging targets (a FaultError, "not applicable", on the local target).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaosk8s.deployment.probes import deployment_available_and_healthy

from resilience.context import RunContext
from resilience.targets.kube.nodes import chaosk8s_call, guarded_secrets, node_target

__all__ = ["deployment_available"]


def deployment_available(
    name: str = "",
    configuration: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> bool:
    """Whether Deployment ``name`` (empty: the chat Deployment) has all its replicas available
    (chaosk8s ``deployment_available_and_healthy``). ``secrets`` is ignored: the target's connection is used."""
    del secrets
    target = RunContext.of(configuration).target
    scope, _api = node_target(target).node_access()
    name = name or str(getattr(target, "chat_deployment", ""))
    guarded = guarded_secrets(target)
    found = chaosk8s_call(
        f"deployment {name} available",
        lambda: deployment_available_and_healthy(name, scope.namespace, raise_on_unavailable=False, secrets=guarded),
    )
    return bool(found)
