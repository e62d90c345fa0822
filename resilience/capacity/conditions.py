"""Conditions: what is wrong with the target while one ladder runs, applied and always reverted.

``engage(condition, target)`` is a context manager: it registers the idempotent revert *before* applying
the fault (``contextlib.ExitStack``), yields the per-step hooks, and reverts on the way out — after the
last step, on an error, on Ctrl-C. Faults go through the Target protocol and the Toxiproxy API:

* ``chat-replica-down``: ``Target.kill(app=chat-api, count=N, signal=SIGSTOP)`` — a frozen replica stays
  down (a SIGKILLed one is restarted by the supervisor within a second); the ladder starts once the
  load balancer's health check took it out (consecutive health checks through it answer in time).
  Revert: SIGCONT to every chat replica (harmless to running ones), then wait until ready.
* ``db-latency``: a latency toxic on the ``postgres`` proxy; revert: delete it.
* ``redis-down``: the ``redis`` proxy disabled; revert: enable it and wait for the chat replicas.
* ``db-failover``: nothing for the whole ladder; each step calls ``Target.failover_db`` inside its
  measured window and waits for a healthy cluster afterwards (the HA manager heals; nothing to revert).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from resilience.capacity.plan import ConditionPlan, FaultKind
from resilience.errors import TargetError
from resilience.targets.base import Target
from resilience.targets.toxiproxy import Toxiproxy

__all__ = ["CHAT_SELECTOR", "StepHooks", "engage", "wait_healthy"]

log = logging.getLogger(__name__)

CHAT_SELECTOR = "app=chat-api"
_TOXIC = "resilience_capacity_latency"
_READY_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class StepHooks:
    """What a condition does in each step of its ladder."""

    in_window: Callable[[], object] | None = None
    """Called ``in_window_at_s`` seconds into the step's measured window (e.g. a failover)."""
    in_window_at_s: float = 0.0
    after_step: Callable[[], object] | None = None
    """Called after the step's load stopped (e.g. wait until the database is healthy again)."""


def wait_healthy(target: Target, *, timeout: float = _READY_TIMEOUT_S) -> None:
    """Wait until the database has a leader with a sync replica, every chat replica is ready, and every
    component reports healthy (a crashed node back as a replica): each step starts from the same state."""
    deadline = time.monotonic() + timeout
    target.wait_db_healthy(timeout=timeout)
    target.wait_ready(CHAT_SELECTOR, timeout=max(1.0, deadline - time.monotonic()))
    while not (status := target.status()).healthy:
        if time.monotonic() >= deadline:
            sick = ", ".join(p.name for p in status.components if not p.ready) or "the target"
            raise TargetError(f"target {target.name}: {sick} not healthy within {timeout:g} s of the step")
        time.sleep(0.5)


def _toxiproxy(target: Target, dependency: str) -> tuple[Toxiproxy, str]:
    proxies = target.proxies()
    if dependency not in proxies:
        raise TargetError(f"target {target.name} has no {dependency!r} proxy (proxies: {', '.join(proxies) or 'none'})")
    return Toxiproxy(target.endpoints().toxiproxy), proxies[dependency]


def _wait_down(target: Target, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(not p.ready for p in target.pods(CHAT_SELECTOR)) < count:
        if time.monotonic() > deadline:
            raise TargetError(f"{count} frozen chat replica(s) still reported ready after {timeout:.0f} s")
        time.sleep(0.2)


def _wait_routed_around(target: Target, *, in_a_row: int = 8, timeout: float = 60.0) -> None:
    """Wait until the load balancer answers ``in_a_row`` health checks in a row within 1 s each.

    With round robin over the replicas, a frozen replica still in rotation would hang one of them.
    """
    url = f"{target.endpoints().chat}/healthz"
    deadline = time.monotonic() + timeout
    ok = 0
    with httpx.Client(timeout=1.0) as client:
        while ok < in_a_row:
            if time.monotonic() > deadline:
                raise TargetError(f"load balancer still routes to a frozen chat replica after {timeout:.0f} s")
            try:
                ok = ok + 1 if client.get(url).status_code == 200 else 0
            except httpx.HTTPError:
                ok = 0
                time.sleep(0.2)


def _resume_chat(target: Target) -> None:
    target.kill(CHAT_SELECTOR, percent=100, signal="SIGCONT")
    target.wait_ready(CHAT_SELECTOR, timeout=_READY_TIMEOUT_S)


def _replica_down(stack: contextlib.ExitStack, condition: ConditionPlan, target: Target) -> StepHooks:
    stack.callback(_resume_chat, target)
    victims = target.kill(CHAT_SELECTOR, count=condition.replicas, signal="SIGSTOP")
    log.info("froze chat replica(s) %s", ", ".join(p.name for p in victims))
    _wait_down(target, condition.replicas)
    _wait_routed_around(target)
    return StepHooks()


def _db_latency(stack: contextlib.ExitStack, condition: ConditionPlan, target: Target) -> StepHooks:
    api, proxy = _toxiproxy(target, "postgres")
    stack.callback(api.remove_toxic, proxy, _TOXIC)
    attrs = {"latency": condition.latency_ms, "jitter": condition.jitter_ms}
    toxic = {"name": _TOXIC, "type": "latency", "stream": "downstream", "toxicity": 1.0, "attributes": attrs}
    api.add_toxic(proxy, toxic)
    return StepHooks()


def _redis_down(stack: contextlib.ExitStack, condition: ConditionPlan, target: Target) -> StepHooks:
    api, proxy = _toxiproxy(target, "redis")
    stack.callback(target.wait_ready, CHAT_SELECTOR, timeout=_READY_TIMEOUT_S)
    stack.callback(api.set_enabled, proxy, True)
    api.set_enabled(proxy, False)
    return StepHooks()


def _db_failover(stack: contextlib.ExitStack, condition: ConditionPlan, target: Target) -> StepHooks:
    return StepHooks(
        in_window=lambda: target.failover_db(condition.mode),
        in_window_at_s=condition.failover_at_s,
        after_step=lambda: wait_healthy(target),
    )


_APPLY: dict[FaultKind, Callable[[contextlib.ExitStack, ConditionPlan, Target], StepHooks]] = {
    FaultKind.NONE: lambda _stack, _cond, _target: StepHooks(),
    FaultKind.CHAT_REPLICA_DOWN: _replica_down,
    FaultKind.DB_LATENCY: _db_latency,
    FaultKind.REDIS_DOWN: _redis_down,
    FaultKind.DB_FAILOVER: _db_failover,
}


@contextlib.contextmanager
def engage(condition: ConditionPlan, target: Target) -> Iterator[StepHooks]:
    """Apply ``condition`` to ``target`` for the duration of the block; always revert it."""
    with contextlib.ExitStack() as stack:
        hooks = _APPLY[condition.fault](stack, condition, target)
        yield hooks
