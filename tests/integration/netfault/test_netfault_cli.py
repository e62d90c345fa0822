"""`python -m resilience.netfault` / `resilience netfault` as the local stack runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.integration.netfault.conftest import REPO, connect, round_trip, start_netfault

pytestmark = pytest.mark.integration


def test_config_file_populates_proxies(tmp_path: Path, echo_server: str) -> None:
    """--config creates the listed proxies at start; SIGTERM stops the server with exit 0."""
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps(
            [
                {"name": "postgres", "listen": "127.0.0.1:0", "upstream": echo_server},
                {"name": "redis", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1", "enabled": False},
            ]
        )
    )
    server = start_netfault("--config", str(config))
    try:
        proxies = requests.get(f"{server.url}/proxies", timeout=10).json()
        assert sorted(proxies) == ["postgres", "redis"]
        assert proxies["redis"]["enabled"] is False
        with connect(proxies["postgres"]["listen"]) as sock:
            round_trip(sock)
    finally:
        assert server.stop() == 0
        server.log.unlink(missing_ok=True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[{", "bad request body: unexpected EOF"),
        ('[{"name": "x"}]', "missing required field: upstream at proxy 1"),
    ],
)
def test_bad_config_file_exits_3(tmp_path: Path, content: str, message: str) -> None:
    """A malformed config file is one error line naming the file, exit code 3, no traceback."""
    config = tmp_path / "proxies.json"
    config.write_text(content)
    r = subprocess.run(
        [sys.executable, "-m", "resilience.netfault", "--port", "0", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 3
    assert r.stderr.strip() == f"error: {config}: {message}"


def test_api_port_in_use_is_one_line(tmp_path: Path) -> None:
    """An API port that is taken fails with one error line and exit code 2."""
    server = start_netfault()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "resilience", "netfault", "--port", str(server.port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.stop()
        server.log.unlink(missing_ok=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: cannot listen on 127.0.0.1:{server.port}: Address already in use"


def test_benchmark_quick_prints_every_figure() -> None:
    """benchmarks/netfault.py --quick runs end to end and prints every figure the issue asks for."""
    r = subprocess.run(
        [sys.executable, "benchmarks/netfault.py", "--quick"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    for figure in (
        "round trip",
        "added p50",
        "throughput",
        "latency toxic 100 ms",
        "bandwidth toxic   1000",
        "bandwidth toxic  10000",
    ):
        assert figure in r.stdout
    assert r.stdout.rstrip().splitlines()[-1].startswith("goals")
