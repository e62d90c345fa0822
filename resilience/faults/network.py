"""Network faults on a named dependency (``postgres``, ``redis``) through the Toxiproxy API.

Each fault takes an optional ``duration_s``: given, the action applies the fault, holds it, and reverts
it before returning (the fault window is then exact); omitted, the fault stays until ``remove_toxic`` /
``bring_up`` or the rollback ``resilience.faults.revert_all_faults`` reverts it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from resilience.context import RunContext
from resilience.errors import ConfigError
from resilience.faults.kinds import toxiproxy_of
from resilience.faults.ledger import Fault, fault_ledger
from resilience.targets.base import Target

__all__ = [
    "add_jitter",
    "add_latency",
    "add_timeout",
    "bring_up",
    "limit_bandwidth",
    "redis_outage",
    "remove_toxic",
    "reset_connections",
    "take_down",
]

_STREAMS = ("downstream", "upstream")


def _proxy_name(target: Target, dependency: str) -> str:
    proxies = target.proxies()
    if dependency not in proxies:
        known = ", ".join(sorted(proxies)) or "none"
        raise ConfigError(f"unknown dependency {dependency!r} (target {target.name} proxies: {known})")
    return proxies[dependency]


def _hold(key: str, duration_s: float | None) -> None:
    if duration_s is None:
        return
    try:
        time.sleep(duration_s)
    finally:
        fault_ledger().revert_fault(key)


def _toxic(  # noqa: PLR0917 - private: one call line per public fault
    dependency: str,
    type_: str,
    attributes: dict[str, Any],
    stream: str,
    toxicity: float,
    duration_s: float | None,
    configuration: Mapping[str, Any] | None,
) -> dict[str, Any]:
    if stream not in _STREAMS:
        raise ConfigError(f"stream must be one of {', '.join(_STREAMS)}, not {stream!r}")
    if not 0 <= toxicity <= 1:
        raise ConfigError(f"toxicity must be within [0, 1], not {toxicity}")
    context = RunContext.of(configuration)
    target = context.target
    proxy = _proxy_name(target, dependency)
    name = f"resilience_{type_}_{stream}"
    toxic = {"name": name, "type": type_, "stream": stream, "toxicity": toxicity, "attributes": attributes}
    fault = Fault("toxic", f"toxic:{proxy}:{name}", {"proxy": proxy, "toxic": name, "dependency": dependency})
    fault_ledger().apply_fault(
        target, fault, lambda: toxiproxy_of(target).add_toxic(proxy, toxic), out_dir=context.out_dir
    )
    _hold(fault.key, duration_s)
    return {"dependency": dependency, "proxy": proxy, "toxic": toxic, "fault": fault.key}


def add_latency(
    dependency: str,
    *,
    latency_ms: int,
    jitter_ms: int = 0,
    stream: str = "downstream",
    toxicity: float = 1.0,
    duration_s: float | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Delay every chunk from (downstream) or to (upstream) ``dependency`` by ``latency_ms`` ± ``jitter_ms``."""
    attrs = {"latency": int(latency_ms), "jitter": int(jitter_ms)}
    return _toxic(dependency, "latency", attrs, stream, toxicity, duration_s, configuration)


def add_jitter(
    dependency: str,
    *,
    jitter_ms: int,
    latency_ms: int = 0,
    stream: str = "downstream",
    toxicity: float = 1.0,
    duration_s: float | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Jitter: a latency toxic centred on ``latency_ms`` varying uniformly by ± ``jitter_ms``."""
    return add_latency(
        dependency,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        stream=stream,
        toxicity=toxicity,
        duration_s=duration_s,
        configuration=configuration,
    )


def limit_bandwidth(
    dependency: str,
    *,
    rate_kbps: int,
    stream: str = "downstream",
    toxicity: float = 1.0,
    duration_s: float | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Limit the bandwidth to ``rate_kbps`` KB/s (K = 1000)."""
    return _toxic(dependency, "bandwidth", {"rate": int(rate_kbps)}, stream, toxicity, duration_s, configuration)


def add_timeout(
    dependency: str,
    *,
    timeout_ms: int = 0,
    stream: str = "upstream",
    toxicity: float = 1.0,
    duration_s: float | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Black-hole the data and close each connection after ``timeout_ms`` (0: hold it open forever)."""
    return _toxic(dependency, "timeout", {"timeout": int(timeout_ms)}, stream, toxicity, duration_s, configuration)


def reset_connections(
    dependency: str,
    *,
    timeout_ms: int = 0,
    stream: str = "upstream",
    toxicity: float = 1.0,
    duration_s: float | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Reset (TCP RST) connections ``timeout_ms`` after their first data."""
    return _toxic(dependency, "reset_peer", {"timeout": int(timeout_ms)}, stream, toxicity, duration_s, configuration)


def remove_toxic(
    dependency: str, toxic_type: str, stream: str = "downstream", configuration: Mapping[str, Any] | None = None
) -> bool:
    """Revert a toxic added by this extension (``toxic_type`` as added, e.g. ``latency``); idempotent."""
    context = RunContext.of(configuration)
    target = context.target
    proxy = _proxy_name(target, dependency)
    name = f"resilience_{toxic_type}_{stream}"
    if fault_ledger().revert_fault(f"toxic:{proxy}:{name}"):
        return True
    toxiproxy_of(target).remove_toxic(proxy, name)
    return False


def take_down(
    dependency: str, duration_s: float | None = None, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Take ``dependency`` down: its proxy closes the listener and every open connection (a partition)."""
    context = RunContext.of(configuration)
    target = context.target
    proxy = _proxy_name(target, dependency)
    fault = Fault("proxy-down", f"down:{proxy}", {"proxy": proxy, "dependency": dependency})
    fault_ledger().apply_fault(
        target, fault, lambda: toxiproxy_of(target).set_enabled(proxy, False), out_dir=context.out_dir
    )
    _hold(fault.key, duration_s)
    return {"dependency": dependency, "proxy": proxy, "fault": fault.key}


def bring_up(dependency: str, configuration: Mapping[str, Any] | None = None) -> bool:
    """Bring ``dependency`` back up (re-enable its proxy); idempotent."""
    context = RunContext.of(configuration)
    target = context.target
    proxy = _proxy_name(target, dependency)
    if fault_ledger().revert_fault(f"down:{proxy}"):
        return True
    toxiproxy_of(target).set_enabled(proxy, True)
    return False


def redis_outage(duration_s: float | None = None, configuration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A Redis outage as the chat replicas see it: every connection to Redis drops and none connects."""
    return take_down("redis", duration_s, configuration)
