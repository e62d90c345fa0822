"""Rolling the chat replicas to a release, one at a time, the way a Deployment's rolling update does.

A release is the ``CHAT_RELEASE`` environment of the chat programs. For each replica: record its release,
regenerate supervisord.conf, recreate that program from it (``reloadConfig`` + remove/add process group),
start it and wait until it reports the release, answers ``/readyz`` and HAProxy has it UP. A replica that
does not become ready stops the rollout there, with a TargetError.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from resilience.errors import ConfigError, TargetError
from resilience.targets.local import configs, monitoring, probes
from resilience.targets.local.configs import Binaries
from resilience.targets.local.view import StackView

__all__ = ["RELEASES", "rollback", "rollout"]

RELEASES = ("good", "bad-errors", "bad-latency", "bad-readiness")
"""The chat service's ``CHAT_RELEASE`` values."""


class _NotReadyError(Exception):
    """A replica did not become ready before the rollout's deadline."""


_DRAIN_S = 0.5
"""Time for requests already sent to a draining replica to finish before it gets SIGTERM."""


def _replica_ready(view: StackView, name: str, release: str) -> bool:
    if view.chat_release(name) != release:
        return False
    if not view.health_checks()[name]():
        return False
    servers = view.haproxy() or {}
    return servers.get(("chat", name), "").startswith("UP")


def _set_lb_state(view: StackView, name: str, lb_state: str) -> None:
    """``drain`` (no new requests, open ones finish) or ``ready`` for replica ``name`` in every HAProxy
    process of the tier (each has its own admin socket)."""
    for lb, sock in view.lb_sockets().items():
        try:
            answer = probes.haproxy_command(sock, f"set server chat/{name} state {lb_state}")
        except OSError as exc:
            raise TargetError(f"HAProxy admin socket of {lb} ({sock}): {exc}") from exc
        if answer:
            raise TargetError(f"HAProxy {lb} refused 'set server chat/{name} state {lb_state}': {answer}")


def _roll_one(view: StackView, bins: Binaries, name: str, release: str, deadline: float) -> None:
    """Drain the replica in HAProxy, restart it on ``release``, put it back once it is ready."""
    state = view.state
    state.replica_releases[name] = release
    state.save(view.layout.state_file)
    progs = configs.programs(state, view.secrets, view.layout, bins)
    configs.write_private(view.layout.supervisord_conf, configs.supervisord_conf(progs, view.layout, state.scope))
    _set_lb_state(view, name, "drain")
    time.sleep(_DRAIN_S)
    view.sup.replace_program(name)
    view.sup.start(name)
    monitoring.write_chat_targets(view.layout, state, state.chat_names())  # its series carry the new release
    try:
        _wait(lambda: view.chat_release(name) == release and view.health_checks()[name](), deadline)
    finally:
        _set_lb_state(view, name, "ready")  # unready, it stays an (unready) endpoint, as on Kubernetes
    _wait(lambda: _replica_ready(view, name, release), deadline)


def _wait(ready: Callable[[], bool], deadline: float) -> None:
    while not ready():
        if time.monotonic() > deadline:
            raise _NotReadyError
        time.sleep(0.2)


def _roll_all(view: StackView, bins: Binaries, release: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for name in view.state.chat_names():
        if view.state.replica_releases.get(name) == release and _replica_ready(view, name, release):
            continue
        try:
            _roll_one(view, bins, name, release, deadline)
        except _NotReadyError:
            back = view.state.previous_release
            raise TargetError(
                f"rollout of {release!r} stopped: {name} not ready in time (see "
                f"{view.layout.log(name)}); 'rollback' restores {back!r}"
            ) from None


def rollout(view: StackView, bins: Binaries, release: str, *, timeout: float) -> None:
    """Roll every chat replica to ``release``; the current release becomes the rollback target."""
    if release not in RELEASES:
        raise ConfigError(f"unknown chat release {release!r} (choose from {', '.join(RELEASES)})")
    state = view.state
    if release != state.release:
        state.previous_release = state.release
        state.release = release
        state.save(view.layout.state_file)
    _roll_all(view, bins, release, timeout)


def rollback(view: StackView, bins: Binaries, *, timeout: float) -> str:
    """Roll every replica back to the previous release (idempotent); return it."""
    state = view.state
    target = state.previous_release
    state.release = target
    state.save(view.layout.state_file)
    _roll_all(view, bins, target, timeout)
    return target
