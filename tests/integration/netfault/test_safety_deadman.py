"""The dead-man switch: leased faults stay while the harness renews them and vanish when it dies.

The harness process below drives the real fault proxy through ``resilience.faults.network``; its
Target is a stand-in that only carries the proxy's URL and a state dir (no local stack is needed to
speak the Toxiproxy API), so the test runs in seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from resilience.safety.fault_store import DurableLedger
from tests.integration.netfault.conftest import REPO, wait_for

pytestmark = pytest.mark.integration

LEASE = "X-Netfault-Lease-Seconds"

_HARNESS = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from resilience.context import RunContext, share_target
    from resilience.faults import network
    from resilience.targets.base import Endpoints

    class Layout:
        root = Path(sys.argv[2])

    class StandIn:
        name = "local"
        layout = Layout()
        def endpoints(self):
            return Endpoints(chat="", toxiproxy=sys.argv[1], postgres="", redis="")
        def proxies(self):
            return {"postgres": "postgres", "redis": "redis"}

    config = {"target": "local", "state_dir": sys.argv[2]}
    share_target(RunContext.of(config), StandIn())
    network.add_latency("postgres", latency_ms=50, configuration=config)
    network.take_down("redis", configuration=config)
    print("applied", flush=True)
    time.sleep(600)
""")


def _proxies(api: str) -> dict[str, dict[str, object]]:
    result: dict[str, dict[str, object]] = requests.get(f"{api}/proxies", timeout=10).json()
    return result


def _faulty(api: str) -> bool:
    p = _proxies(api)
    return bool(p["postgres"]["toxics"]) and not p["redis"]["enabled"]


def _clean(api: str) -> bool:
    p = _proxies(api)
    return not p["postgres"]["toxics"] and bool(p["redis"]["enabled"])


def test_harness_killed_faults_expire_within_their_lease(api: str, echo_server: str, tmp_path: Path) -> None:
    """Renewed while the harness lives (past several leases); after SIGKILL the proxy drops them on its own."""
    for name in ("postgres", "redis"):
        requests.post(
            f"{api}/proxies", json={"name": name, "upstream": echo_server, "listen": "127.0.0.1:0"}, timeout=10
        ).raise_for_status()
    lease = 1.5
    env = {**os.environ, "RESILIENCE_FAULT_LEASE_S": str(lease)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HARNESS, api, str(tmp_path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "applied"
        assert sorted(e.kind for e in DurableLedger(tmp_path).entries()) == ["proxy-down", "toxic"]
        time.sleep(3 * lease)
        assert _faulty(api), "renewals keep the faults while the harness lives"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        killed = time.monotonic()
        wait_for(lambda: _clean(api), timeout=lease + 10, what="leases to expire")
        assert time.monotonic() - killed < lease + 10
        print(f"\ndead-man switch: lease {lease:g} s, SIGKILL -> faults gone in {time.monotonic() - killed:.2f} s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert len(DurableLedger(tmp_path).entries()) == 2, "the records stay for 'resilience cleanup'"


def test_leased_outage_ends_unless_renewed_and_enable_cancels_it(api: str, echo_server: str) -> None:
    """A proxy disabled with a lease listens again after it; renewing keeps it down; enabling ends the lease."""
    requests.post(
        f"{api}/proxies", json={"name": "p", "upstream": echo_server, "listen": "127.0.0.1:0"}, timeout=10
    ).raise_for_status()
    r = requests.post(f"{api}/proxies/p", json={"enabled": False}, headers={LEASE: "0.8"}, timeout=10)
    assert r.status_code == 200 and float(r.headers["X-Netfault-Lease-Expires"]) > time.time()
    for _ in range(4):
        time.sleep(0.3)
        requests.post(f"{api}/proxies/p", json={"enabled": False}, headers={LEASE: "0.8"}, timeout=10)
    assert _proxies(api)["p"]["enabled"] is False
    wait_for(lambda: _proxies(api)["p"]["enabled"] is True, timeout=10, what="outage lease expiry")
    requests.post(f"{api}/proxies/p", json={"enabled": False}, headers={LEASE: "0.5"}, timeout=10)
    r = requests.post(f"{api}/proxies/p", json={"enabled": True}, timeout=10)
    assert "X-Netfault-Lease-Expires" not in r.headers
    requests.post(f"{api}/proxies/p", json={"enabled": False}, timeout=10)
    time.sleep(1.0)
    assert _proxies(api)["p"]["enabled"] is False, "an unleased outage stays (plain Toxiproxy behaviour)"
