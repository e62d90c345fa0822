"""Network faults (resilience.faults.network) against the real fault proxy, with an echo server behind it.

The Target here only answers ``endpoints()`` and ``proxies()`` — the two things network faults ask of a
target; the whole local stack is exercised by tests/e2e.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from resilience.context import OUT_DIR, RunContext, share_target
from resilience.errors import ConfigError
from resilience.faults import network, revert_all_faults
from resilience.targets.base import Endpoints
from tests.integration.netfault.conftest import connect, round_trip

pytestmark = pytest.mark.integration


class _ProxyOnlyTarget:
    """The network-fault face of a target: its Toxiproxy API and the proxy of dependency ``echo``."""

    name = "proxy-only"

    def __init__(self, api: str, state_dir: Path) -> None:
        self.api = api
        self.state_dir = state_dir
        """Where the durable fault ledger goes (resilience.safety.fault_store)."""

    def endpoints(self) -> Endpoints:
        return Endpoints(chat="", toxiproxy=self.api, postgres="", redis="")

    def proxies(self) -> dict[str, str]:
        return {"echo": "echo"}


@pytest.fixture
def setup(api: str, echo_server: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An ``echo`` proxy in front of the echo server, and a configuration naming a target that knows it."""
    created = requests.post(
        f"{api}/proxies", json={"name": "echo", "listen": "127.0.0.1:0", "upstream": echo_server}, timeout=10
    )
    created.raise_for_status()
    config = {"target": "proxy-only", "state_dir": f"/nonexistent/{uuid.uuid4().hex}", OUT_DIR: str(tmp_path)}
    share_target(RunContext.of(config), _ProxyOnlyTarget(api, tmp_path / "state"))  # type: ignore[arg-type]
    try:
        yield {"api": api, "listen": created.json()["listen"], "config": config, "out": tmp_path}
    finally:
        revert_all_faults()


def _toxics(api: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = requests.get(f"{api}/proxies/echo/toxics", timeout=10).json()
    return result


def test_latency_for_a_duration_is_applied_then_reverted(setup: dict[str, Any]) -> None:
    """200 ms of latency holds while the action runs, is gone when it returns, and both ends are on the run clock."""
    seen: list[float] = []

    def measure() -> None:
        with connect(setup["listen"]) as sock:
            seen.append(round_trip(sock))

    timer = threading.Timer(0.5, measure)
    timer.start()
    network.add_latency("echo", latency_ms=200, duration_s=1.5, configuration=setup["config"])
    timer.join()
    assert seen[0] >= 0.19
    assert _toxics(setup["api"]) == []
    events = [json.loads(x) for x in (setup["out"] / "faults.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "end"]
    assert 1.4 <= events[1]["t"] - events[0]["t"] < 5


@pytest.mark.parametrize(
    ("call", "kind", "attributes"),
    [
        (
            lambda c: network.add_jitter("echo", jitter_ms=50, latency_ms=10, configuration=c),
            "latency",
            {"latency": 10, "jitter": 50},
        ),
        (lambda c: network.limit_bandwidth("echo", rate_kbps=100, configuration=c), "bandwidth", {"rate": 100}),
        (lambda c: network.add_timeout("echo", timeout_ms=500, configuration=c), "timeout", {"timeout": 500}),
        (lambda c: network.reset_connections("echo", timeout_ms=0, configuration=c), "reset_peer", {"timeout": 0}),
    ],
    ids=["jitter", "bandwidth", "timeout", "reset"],
)
def test_each_toxic_lands_and_the_rollback_removes_it(
    setup: dict[str, Any], call: Any, kind: str, attributes: dict[str, int]
) -> None:
    """Jitter, bandwidth, timeout and reset land as the right toxic; revert_all_faults (the rollback) removes them."""
    call(setup["config"])
    (toxic,) = _toxics(setup["api"])
    assert toxic["type"] == kind
    assert {k: toxic["attributes"][k] for k in attributes} == attributes
    assert revert_all_faults() == [f"toxic:echo:{toxic['name']}"]
    assert _toxics(setup["api"]) == []


def test_down_then_up(setup: dict[str, Any]) -> None:
    """``take_down`` refuses connections until ``bring_up``; bringing up twice is harmless."""
    network.take_down("echo", configuration=setup["config"])
    with pytest.raises(OSError), socket.create_connection(tuple(setup["listen"].rsplit(":", 1)), timeout=2) as sock:  # type: ignore[arg-type]
        round_trip(sock)
    assert network.bring_up("echo", configuration=setup["config"]) is True
    assert network.bring_up("echo", configuration=setup["config"]) is False
    with connect(setup["listen"]) as sock:
        assert round_trip(sock) < 1


def test_unknown_dependency_is_a_config_error(setup: dict[str, Any]) -> None:
    """A dependency the target has no proxy for is named in one clear error, and nothing is applied."""
    with pytest.raises(ConfigError, match=r"unknown dependency 'postgress'.*echo"):
        network.add_latency("postgress", latency_ms=10, configuration=setup["config"])
    assert _toxics(setup["api"]) == []
