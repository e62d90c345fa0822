"""Node faults: drain a Kubernetes worker node (kubectl drain), through chaostoolkit-kubernetes.

Not applicable to the local target (no nodes): the runner reports such an experiment NOT APPLICABLE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from resilience.context import RunContext
from resilience.faults import chaosk8s_calls
from resilience.faults.ledger import Fault, fault_ledger
from resilience.targets.kube.nodes import choose_drain_node, node_target

__all__ = ["drain_node"]


def drain_node(
    node: str = "",
    pod_selector: str = "app=chat-api",
    timeout_s: int = 120,
    configuration: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Cordon a worker node and evict its pods; return ``{"node": ..., "drained": [...]}``.

    ``node`` empty: the schedulable worker hosting the most ``pod_selector`` pods and not the PostgreSQL
    primary. The uncordon is registered as the fault's revert before anything is sent; it runs in the
    experiment's rollbacks (revert_all_faults) or ``resilience cleanup``. ``secrets`` is ignored: the
    connection is the target's, checked by the safety guard, and handed to chaostoolkit-kubernetes.
    """
    del secrets
    context = RunContext.of(configuration)
    target = context.target
    _scope, api = node_target(target).node_access()
    guarded = chaosk8s_calls.guarded_secrets(target)  # refused here, before anything is recorded or sent
    chosen = choose_drain_node(
        api.list_nodes(), api.list_pods(pod_selector), api.list_pods("app=postgres,role=primary"), node=node
    )
    fault = Fault("node-drain", f"node-drain:{chosen}", {"node": chosen, "pod_selector": pod_selector})
    drained = fault_ledger().apply_fault(
        target, fault, lambda: chaosk8s_calls.drain(chosen, timeout_s, guarded), out_dir=context.out_dir
    )
    return {"node": chosen, "drained": drained}
