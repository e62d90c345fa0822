"""Shared fixtures: real PostgreSQL and Redis on loopback, started once per session, stopped by pid; one real
local stack shared by the modules that only need one running; the unit layer's isolation guard; the grouping
of tests onto xdist workers (docs/testing.md)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from resilience.targets.local import LocalTarget
from tests.support.local_stack import SHARED_STACK_GROUP, SHARED_STACK_MODULES, running_local_stack
from tests.support.servers import PostgresServer, RedisServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL cluster for the session (initdb as ``postgres`` into a temp dir)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's PostgreSQL; its libpq URL."""
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalTarget]:
    """One real local stack (2 chat replicas) for the session, brought down (purged) at its end.

    For the modules listed in ``SHARED_STACK_MODULES`` (tests/support/local_stack.py): they need a running
    stack and leave it healthy (faults reverted, primary back, sync mode on), and run on one xdist worker, so
    one bring-up serves them all. A module that breaks the stack on purpose brings up its own.
    """
    with running_local_stack(replicas=2, prefix="resilience-shared-") as target:
        yield target


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real Redis for the session."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


# --- The unit layer starts no process and touches no network -----------------------------------------------
# For every item marked ``unit``, its setup (module fixtures included) and its call run with process spawning
# and socket connect/bind replaced by a function that raises: a unit test that starts a process or opens a
# connection fails loudly instead of silently turning the unit layer into an integration layer. Teardown is
# not guarded: the session's servers (started by integration tests) may be stopped after a unit test.

_SPAWNERS = [(subprocess.Popen, "__init__"), (os, "fork"), (os, "forkpty"), (os, "posix_spawn"), (os, "posix_spawnp")]
_SPAWNERS += [(os, "system")]
_SOCKET_CALLS = [(socket.socket, "connect"), (socket.socket, "connect_ex"), (socket.socket, "bind")]


class UnitIsolationError(AssertionError):
    """A unit test tried to start a process or use the network: it belongs in tests/integration/."""


def _forbidden(what: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise UnitIsolationError(f"unit tests start no process and touch no network: {what} was called")

    return refuse


@contextlib.contextmanager
def _unit_isolation() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for owner, name in _SPAWNERS + _SOCKET_CALLS:
            if hasattr(owner, name):
                mp.setattr(owner, name, _forbidden(f"{getattr(owner, '__name__', owner)}.{name}"))
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker("unit") is None:
        return (yield)
    with _unit_isolation():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker("unit") is None:
        return (yield)
    with _unit_isolation():
        return (yield)


# --- Where tests run under xdist ----------------------------------------------------------------------------
# One work unit per module (its module-scoped servers start once, on one worker), except the modules sharing
# ``local_stack``, which form one unit: one worker runs them all after one bring-up. (xdist's own
# ``--dist loadgroup`` cannot do this with pytest 9: it renames ``item._nodeid``, which pytest 9 no longer
# reads, so every test became its own unit.) Units go out in collection order, the long e2e modules first.


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") == "each":
        return None

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return SHARED_STACK_GROUP if path in SHARED_STACK_MODULES else path

    config.option.loadscopereorder = False  # collection order, not "most tests first"
    return ModuleScheduling(config, log)
