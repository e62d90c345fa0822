"""The failover anatomy: phases from component observations and load events, and how they sum."""

from __future__ import annotations

from typing import Any

import pytest

from resilience.analysis.anatomy import anatomy, anatomy_summary, request_recovery
from resilience.load.events import Kind, Raw

pytestmark = pytest.mark.unit

T0 = 1000.0


def _o(dt: float, key: str, value: Any) -> dict[str, Any]:
    return {"t": T0 + dt, "key": key, "value": value}


def _db_observations(lbs: int = 1) -> list[dict[str, Any]]:
    obs = [
        _o(-1, "dcs.leader", "pg-1"),
        _o(-1, "db.pg-1", "primary/running"),
        _o(-1, "db.pg-2", "replica/running"),
        _o(0.6, "db.pg-1", "primary/crashed"),
        _o(2.2, "dcs.leader", None),
        _o(2.4, "dcs.leader", "pg-2"),
        _o(6.0, "db.pg-1", None),  # its REST API silent while PostgreSQL starts again
        _o(9.0, "db.pg-1", "replica/running"),
    ]
    for i in range(lbs):
        obs += [
            _o(-1, f"lb.{i}.postgres-rw/pg-1", "UP"),
            _o(-1, f"lb.{i}.postgres-rw/pg-2", "DOWN"),
            _o(-1, f"lb.{i}.chat/chat-1", "UP"),
            _o(-1, f"lb.{i}.chat/chat-9", "MAINT"),  # a spare slot: never in rotation, never waited for
            _o(1.0 + i * 0.1, f"lb.{i}.chat/chat-1", "DOWN"),
            _o(2.5 + i * 0.1, f"lb.{i}.postgres-rw/pg-2", "UP"),
            _o(2.7, f"lb.{i}.postgres-rw/pg-1", "DOWN"),
            _o(3.0 + i * 0.1, f"lb.{i}.chat/chat-1", "UP"),
        ]
    return obs


def _events() -> list[Raw]:
    ev: list[Raw] = [(T0 - 5 + i * 0.01, Kind.WS_CONNECT, 1, 0, 5.0) for i in range(3)]
    ev += [
        (T0 - 0.5, Kind.ACK, 1, 0, 20.0),
        (T0 + 1.0, Kind.WS_CLOSE, 0, 1011, 0.0),
        (T0 + 2.6, Kind.ACK, 0, 503, 30.0),  # failed: not a write acked
        (T0 + 2.8, Kind.ACK, 1, 0, 2500.0),  # the first acknowledged write after routing
        (T0 + 3.3, Kind.WS_CONNECT, 1, 0, 10.0),
        (T0 + 3.5, Kind.DELIVERY, 1, 0, 3000.0),  # sent at +0.5, during the outage: the backlog
        (T0 + 3.6, Kind.DELIVERY, 1, 0, 20.0),  # sent at +3.58, after the first write: not backlog
    ]
    return ev


def _names(phases: list[dict[str, Any]]) -> list[tuple[str, float]]:
    return [(p["name"], p["at_s"]) for p in phases]


def test_db_failover_phases_each_from_the_component_that_knows_it() -> None:
    """Patroni's REST says the leader's PostgreSQL is gone, etcd's key is released and taken, every
    HAProxy process routes to the new leader alone, then the clients' first ack, reconnect and backlog."""
    kind, phases = anatomy("db-failover:primary-crash", _db_observations(), _events(), T0)
    assert kind == "db"
    assert _names(phases) == [
        ("fault", 0.0),
        ("leader lost", 0.6),
        ("leader key released", 2.2),
        ("leader elected", 2.4),
        ("routed", 2.5),
        ("first write acked", 2.8),
        ("replicas in rotation", 3.0),
        ("clients reconnected", 3.3),
        ("backlog delivered", 3.5),
        ("old leader restarting", 6.0),
        ("old leader rejoined", 9.0),
    ]
    assert {p["name"]: p["source"] for p in phases}["routed"] == "lb"


def test_routed_waits_for_every_haproxy_process() -> None:
    """With two HAProxy processes, read-write routing and rotation count when the last one agrees."""
    _, phases = anatomy("db-failover:primary-crash", _db_observations(lbs=2), _events(), T0)
    at = dict(_names(phases))
    assert at["routed"] == 2.6  # pg-2 up in the first at 2.5, in the second at 2.6
    assert at["replicas in rotation"] == 3.1


def test_the_chain_stops_at_the_first_phase_that_did_not_happen() -> None:
    """No new leader elected: no routed, no client phase (never a made-up time)."""
    obs = [o for o in _db_observations() if not (o["key"] == "dcs.leader" and o["value"] == "pg-2")]
    _, phases = anatomy("db-failover:primary-crash", obs, _events(), T0)
    assert [p["name"] for p in phases] == ["fault", "leader lost", "leader key released"]


def test_replica_kill_phases() -> None:
    """Supervisor: process gone and restarted; HAProxy: marked down by the first process, back in rotation
    once every process has it up; the replica: ready; the clients: as many WebSockets open as before."""
    obs = [
        _o(-1, "lb.1.chat/chat-2", "UP"),
        _o(0.7, "lb.1.chat/chat-2", "DOWN"),  # the other process marks it down first...
        _o(0.95, "lb.1.chat/chat-2", "UP"),  # ...and has it back before this one has it out
        _o(2.0, "lb.1.chat/chat-2", "UP"),
        _o(-1, "proc.chat-1", "RUNNING:10"),
        _o(-1, "proc.chat-2", "RUNNING:11"),
        _o(-1, "lb.0.chat/chat-2", "UP"),
        _o(0.1, "proc.chat-2", "BACKOFF:None"),
        _o(0.3, "proc.chat-2", "STARTING:12"),
        _o(0.6, "lb.0.chat/chat-2", "UP 1/2"),
        _o(0.9, "lb.0.chat/chat-2", "DOWN"),
        _o(-1, "ready.chat-2", True),
        _o(0.2, "ready.chat-2", False),
        _o(1.8, "ready.chat-2", True),
        _o(2.1, "lb.0.chat/chat-2", "UP"),
    ]
    events: list[Raw] = [(T0 - 5, Kind.WS_CONNECT, 1, 0, 5.0), (T0 - 5, Kind.WS_CONNECT, 1, 0, 5.0)]
    events += [(T0 + 0.05, Kind.WS_CLOSE, 0, 1006, 0.0), (T0 + 0.4, Kind.WS_CONNECT, 1, 0, 9.0)]
    kind, phases = anatomy("kill:app=chat-api", obs, events, T0)
    assert kind == "replica"
    assert _names(phases) == [
        ("fault", 0.0),
        ("process gone", 0.1),
        ("restarted", 0.3),
        ("clients reconnected", 0.4),
        ("marked down", 0.7),
        ("ready", 1.8),
        ("in rotation", 2.1),
    ]


def test_other_faults_and_no_observations_have_no_anatomy() -> None:
    """A latency fault has no anatomy; nor has a database failover nothing was observed for."""
    assert anatomy("latency:postgres", _db_observations(), [], T0) == (None, [])
    assert anatomy("db-failover:primary-crash", [], [], T0) == (None, [])


def test_request_recovery_is_the_last_bad_request_issued_in_the_bucket_before() -> None:
    """Issued = completion - latency; a failure or a request slower than p95 is bad; none: the bucket."""
    ev: list[Raw] = [
        (T0 + 9.5, Kind.ACK, 1, 0, 300.0),  # issued 9.2, slow: bad
        (T0 + 9.6, Kind.ACK, 0, 503, 10.0),  # issued 9.59, failed: the last bad one
        (T0 + 9.8, Kind.ACK, 1, 0, 20.0),  # good
        (T0 + 8.5, Kind.ACK, 0, 503, 10.0),  # before the bucket: ignored
    ]
    assert request_recovery(ev, T0 + 10, window_s=1.0, p95_ms=100) == pytest.approx(T0 + 9.59)
    assert request_recovery(ev[2:3], T0 + 10, window_s=1.0, p95_ms=100) == T0 + 10


def test_summary_sums_the_segments_to_the_last_phase_before_recovery() -> None:
    """The phase that marks recovery is the last one at or before it; the gap is what nothing explains."""
    _, phases = anatomy("db-failover:primary-crash", _db_observations(), _events(), T0)
    summary = anatomy_summary("db", phases, recovery_s=4.0, recovery_request_s=3.7)
    assert summary["marks_recovery"] == "backlog delivered"
    assert summary["sum_s"] == 3.5
    assert summary["gap_request_s"] == pytest.approx(0.2)
    assert summary["gap_s"] == pytest.approx(0.5)
    assert summary["service_back_s"] == 2.8
