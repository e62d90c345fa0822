"""Every kind of fault, declared in one table: how it is reverted, how a revert is verified, how its
lease is renewed. A fault kind added here is known to every ledger (the runner's, ``resilience cleanup``'s),
whatever was imported before: nothing registers itself as a side effect of an import.

Reverts are idempotent: replaying one whose fault is already gone changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from resilience.safety.lease import fault_lease_s
from resilience.targets.base import Deployer, Target
from resilience.targets.toxiproxy import Toxiproxy

__all__ = ["KINDS", "FaultKind", "toxiproxy_of"]

Revert = Callable[[Target, Mapping[str, Any]], None]
Verify = Callable[[Target, Mapping[str, Any]], bool]
Renew = Callable[[Target, Mapping[str, Any]], None]


@dataclass(frozen=True)
class FaultKind:
    """How faults of one kind are undone."""

    revert: Revert
    """Undo the fault described by the record's params (idempotent)."""
    verify: Verify | None = None
    """After a revert: does the target show the fault is gone? (None: not checked)."""
    renew: Renew | None = None
    """Extend the fault's lease on the fault proxy (None: the fault has no lease)."""


def toxiproxy_of(target: Target, *, timeout_s: float = 5.0) -> Toxiproxy:
    """The target's fault-proxy API, with leased faults (the dead-man switch)."""
    return Toxiproxy(target.endpoints().toxiproxy, lease_s=fault_lease_s(), timeout_s=timeout_s)


def _revert_toxic(target: Target, params: Mapping[str, Any]) -> None:
    toxiproxy_of(target).remove_toxic(params["proxy"], params["toxic"])


def _verify_toxic(target: Target, params: Mapping[str, Any]) -> bool:
    toxics = toxiproxy_of(target).proxy(params["proxy"]).get("toxics") or []
    return all(t.get("name") != params["toxic"] for t in toxics)


def _renew_toxic(target: Target, params: Mapping[str, Any]) -> None:
    toxiproxy_of(target, timeout_s=1.0).renew_toxic(params["proxy"], params["toxic"])


def _revert_down(target: Target, params: Mapping[str, Any]) -> None:
    toxiproxy_of(target).set_enabled(params["proxy"], True)


def _verify_up(target: Target, params: Mapping[str, Any]) -> bool:
    return bool(toxiproxy_of(target).proxy(params["proxy"]).get("enabled"))


def _renew_down(target: Target, params: Mapping[str, Any]) -> None:
    toxiproxy_of(target, timeout_s=1.0).set_enabled(params["proxy"], False)


def _revert_release(target: Target, params: Mapping[str, Any]) -> None:
    if target.release() != params["previous"]:
        target.rollback(timeout=float(params.get("timeout_s", 120.0)))


def _verify_release(target: Target, params: Mapping[str, Any]) -> bool:
    return bool(target.release() == params["previous"])


# chaostoolkit-kubernetes (and the kubernetes client) load only when a node fault is reverted: every
# ledger imports this table, most runs never touch a node.
def _revert_drain(target: Target, params: Mapping[str, Any]) -> None:
    from resilience.faults import chaosk8s_calls  # noqa: PLC0415

    chaosk8s_calls.uncordon(target, params["node"])


def _verify_uncordoned(target: Target, params: Mapping[str, Any]) -> bool:
    from resilience.faults import chaosk8s_calls  # noqa: PLC0415

    return not chaosk8s_calls.is_cordoned(target, params["node"])


def _revert_deploy(target: Target, params: Mapping[str, Any]) -> None:
    """An unfinished deploy (interrupted, or its harness died) is rolled back; a finished one is left alone."""
    if isinstance(target, Deployer) and target.deploy_in_progress():
        target.rollback()


def _verify_deploy(target: Target, params: Mapping[str, Any]) -> bool:
    return not (isinstance(target, Deployer) and target.deploy_in_progress())


KINDS: Mapping[str, FaultKind] = {
    "instant": FaultKind(lambda _t, _p: None),
    "toxic": FaultKind(_revert_toxic, verify=_verify_toxic, renew=_renew_toxic),
    "proxy-down": FaultKind(_revert_down, verify=_verify_up, renew=_renew_down),
    "release": FaultKind(_revert_release, verify=_verify_release),
    "node-drain": FaultKind(_revert_drain, verify=_verify_uncordoned),
    "deploy": FaultKind(_revert_deploy, verify=_verify_deploy),
}
"""Fault kind -> how to undo it. ``instant`` faults (a pod kill, a failover) have nothing to undo."""
