"""Leased toxics (the harness's dead-man switch): an extension header the real Toxiproxy ignores."""

from __future__ import annotations

import time

import pytest
import requests

from tests.integration.netfault.conftest import connect, round_trip, wait_for

pytestmark = pytest.mark.integration

LEASE = "X-Netfault-Lease-Seconds"


def _toxics(api: str) -> list[str]:
    return [t["name"] for t in requests.get(f"{api}/proxies/p/toxics", timeout=10).json()]


def _create(api: str, upstream: str) -> str:
    r = requests.post(f"{api}/proxies", json={"name": "p", "upstream": upstream, "listen": "127.0.0.1:0"}, timeout=10)
    return str(r.json()["listen"])


def test_leased_toxic_expires_on_live_connection(api: str, echo_server: str) -> None:
    """A toxic created with a 3 s lease removes itself; the open connection becomes fast again."""
    listen = _create(api, echo_server)
    r = requests.post(
        f"{api}/proxies/p/toxics",
        json={"type": "latency", "attributes": {"latency": 300}},
        headers={LEASE: "3"},
        timeout=10,
    )
    assert r.status_code == 200
    assert float(r.headers["X-Netfault-Lease-Expires"]) > time.time()
    assert r.json() == {
        "attributes": {"latency": 300, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1,
    }
    with connect(listen) as sock:
        assert round_trip(sock) >= 0.299
        wait_for(lambda: _toxics(api) == [], timeout=15, what="lease expiry")
        assert min(round_trip(sock) for _ in range(5)) < 0.29


def test_renewed_lease_keeps_toxic_and_unleased_never_expires(api: str, echo_server: str) -> None:
    """Renewing a lease (an update with the header) keeps the toxic; toxics without a lease stay."""
    _create(api, echo_server)
    requests.post(f"{api}/proxies/p/toxics", json={"type": "noop", "name": "kept"}, timeout=10)
    requests.post(
        f"{api}/proxies/p/toxics", json={"type": "latency", "name": "leased"}, headers={LEASE: "2"}, timeout=10
    )
    deadline = time.monotonic() + 3  # longer than the lease: only the renewals keep it
    while time.monotonic() < deadline:
        time.sleep(0.5)
        r = requests.post(f"{api}/proxies/p/toxics/leased", json={}, headers={LEASE: "2"}, timeout=10)
        assert r.status_code == 200
    assert _toxics(api) == ["kept", "leased"]
    wait_for(lambda: _toxics(api) == ["kept"], timeout=15, what="lease expiry")


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_bad_lease_header_is_refused(api: str, echo_server: str, value: str) -> None:
    """A lease that is not a positive number is a 400 and creates nothing."""
    _create(api, echo_server)
    r = requests.post(f"{api}/proxies/p/toxics", json={"type": "noop"}, headers={LEASE: value}, timeout=10)
    assert r.status_code == 400
    assert r.json()["error"] == f"{LEASE} must be a positive number of seconds, not {value!r}"
    assert _toxics(api) == []
