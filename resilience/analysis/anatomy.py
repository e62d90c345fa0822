"""The anatomy of a failover: each phase measured from the component that knows it, on the run clock.

Pure: observations (what a watcher read from etcd, Patroni, HAProxy, the supervisor, the replicas'
``/readyz``; on Kubernetes from CNPG, the ``-rw`` EndpointSlice and pod readiness) and the load's events in,
``phases`` out. An observation is ``{"t": epoch s, "key": str, "value": ...}``, recorded when a key's value
changed (the first reading of each key is recorded too).

    database fault:  fault ─► leader lost ─► leader key released ─► leader elected ─► routed
                     ─► first write acked ─► replicas in rotation ─► clients reconnected ─► backlog delivered
                     (and, beside the chain, old leader restarting, old leader rejoined)
    replica kill:    fault ─► process gone ─► marked down / restarted ─► ready ─► in rotation
                     (and clients reconnected)

Each database phase is searched from the one before it (a phase is "by then, this had happened"); the
replica phases are searched from ``process gone``; both are sorted by time, since HAProxy may mark a
replica down before or after the supervisor restarted it. ``replicas in rotation`` appears only when
readiness took chat replicas out of the load balancer during the fault.

Keys read here (the watcher's and the targets' contract):

    dcs.leader                 the leader key's holder (etcd, or CNPG's status.currentPrimary), None: none
    db.<node>                  "<role>/<state>" from the node's own Patroni REST API (None: no answer)
    lb.<lb>.postgres-rw/<node> HAProxy process <lb>'s status for a database server (UP, DOWN...); on
                               Kubernetes lb.0.postgres-rw/<pod> is "UP" while the -rw EndpointSlice
                               lists the pod ready
    lb.<lb>.chat/<replica>     HAProxy process <lb>'s status for a chat replica
    proc.<name>                "<state>:<pid>" from the supervisor (or the pod's uid on Kubernetes)
    ready.<replica>            the replica answers /readyz (pod Ready on Kubernetes)

"Sums to the recovery": the segments run back to back from the fault start, so the sum of the segments
up to a phase is that phase's ``at_s``. The phase that marks recovery is the last measured phase at or
before the recovery; the gap from it to the recovery is what no measured phase explains. The recovery is
``recovery_s`` (the SLO's 1 s buckets) and ``recovery_request_s``, the same recovery located at request
resolution: the issue time of the last request, in the bucket before the recovery, that failed or was
slower than the latency objective (requests issued after it were good). The goal (<= 0.5 s) is on the
latter; docs/failover.md has the reasoning and figures.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from resilience.load.events import Kind, Raw

__all__ = [
    "DB_FAULTS",
    "RECOVERY_PHASE",
    "anatomy",
    "anatomy_summary",
    "db_phases",
    "replica_phases",
    "request_recovery",
]

Observation = Mapping[str, Any]
Phase = dict[str, Any]

DB_FAULTS = ("db-failover", "db-switchover", "cnpg")
"""Fault key prefixes (faults.jsonl ``key``) of database failovers."""
RECOVERY_PHASE = {"db": "first write acked", "replica": "in rotation"}
"""The phase at which the service is back, per kind of anatomy (``service_back_s``)."""
_WRITES = (Kind.ACK, Kind.REST_SEND)
_REQUESTS = (Kind.ACK, Kind.REST_SEND, Kind.REST_HISTORY)


class _Series:
    """One key's values over time (observations sorted by time)."""

    def __init__(self, observations: Sequence[Observation], key: str) -> None:
        self.points = sorted((float(o["t"]), o.get("value")) for o in observations if o.get("key") == key)

    def at(self, t: float) -> Any:
        """The value last read at or before ``t`` (None before the first reading)."""
        value = None
        for when, v in self.points:
            if when > t:
                break
            value = v
        return value

    def first(self, after: float, pred: Callable[[Any], bool]) -> float | None:
        """``after`` when the value then already satisfies ``pred``, else the first reading after it that does."""
        if self.points and self.points[0][0] <= after and pred(self.at(after)):
            return after
        return next((t for t, v in self.points if t > after and pred(v)), None)


def _keys(observations: Sequence[Observation], prefix: str) -> list[str]:
    return sorted({str(o["key"]) for o in observations if str(o.get("key", "")).startswith(prefix)})


def _lb_all(observations: Sequence[Observation], backend: str, server: str) -> list[_Series]:
    """One series per load balancer process for ``backend/server``."""
    return [_Series(observations, k) for k in _keys(observations, "lb.") if k.endswith(f".{backend}/{server}")]


def _first_all(series: Sequence[_Series], after: float, pred: Callable[[Any], bool]) -> float | None:
    """The first time at or after ``after`` at which every series satisfies ``pred`` (None: never)."""
    if not series:
        return None
    times = sorted({after, *(t for s in series for t, _ in s.points if t > after)})
    return next((t for t in times if all(pred(s.at(t)) for s in series)), None)


def _up(status: Any) -> bool:
    """In rotation: ``UP``, or ``UP 1/2`` (a check failed, not yet enough to take it out)."""
    return isinstance(status, str) and status.startswith("UP")


def _phase(name: str, at: float, fault_start: float, source: str) -> Phase:
    return {"name": name, "at": round(at, 3), "at_s": round(at - fault_start, 3), "source": source}


def db_phases(observations: Sequence[Observation], events: Sequence[Raw], fault_start: float) -> list[Phase]:
    """The database failover's phases (see the module doc), sorted by time; the chain stops at the first
    phase that did not happen."""
    out = [_phase("fault", fault_start, fault_start, "fault")]
    leader = _Series(observations, "dcs.leader")
    old = leader.at(fault_start)
    if old is None:
        return out
    agent = _Series(observations, f"db.{old}")
    released = leader.first(fault_start, lambda v: v != old)
    down = agent.first(fault_start, lambda v: v != "primary/running") if agent.points else None
    lost = min((t for t in (down, released) if t is not None), default=None)
    if lost is None:
        return out
    out.append(_phase("leader lost", lost, fault_start, "patroni" if lost == down else "dcs"))
    if released is None:
        return out
    if agent.points:
        out.append(_phase("leader key released", released, fault_start, "dcs"))
    elected = leader.first(released, lambda v: v is not None and v != old)
    if elected is None:
        return out
    out.append(_phase("leader elected", elected, fault_start, "dcs"))
    if agent.points:
        out += _old_leader(agent, elected, fault_start)
    servers = {k.rsplit("/", 1)[1] for k in _keys(observations, "lb.") if ".postgres-rw/" in k}
    lbs = {srv: _lb_all(observations, "postgres-rw", srv) for srv in servers}
    routed = _routed(lbs, str(leader.at(elected)), elected) if str(leader.at(elected)) in lbs else None
    if routed is not None:
        out.append(_phase("routed", routed, fault_start, "lb"))
        out += _client_phases(observations, events, fault_start, routed)
    return sorted(out, key=lambda p: float(p["at"]))


def _old_leader(agent: _Series, elected: float, fault_start: float) -> list[Phase]:
    """Beside the chain: the old leader restarting (its Patroni leaves the demoted/stopped state: it starts
    PostgreSQL, runs crash recovery or pg_rewind, its REST API often silent meanwhile) and rejoined."""
    out = []
    stopped = agent.at(elected)
    restarting = agent.first(elected, lambda v: v not in (stopped, "replica/running"))
    if restarting is not None:
        out.append(_phase("old leader restarting", restarting, fault_start, "patroni"))
    back = agent.first(restarting or elected, lambda v: v == "replica/running")
    if back is not None:
        out.append(_phase("old leader rejoined", back, fault_start, "patroni"))
    return out


def _routed(lbs: Mapping[str, Sequence[_Series]], new: str, after: float) -> float | None:
    """When every load balancer process has ``new`` in rotation for read-write traffic (the old leader's
    server may still be up until its checks fail: its PostgreSQL refuses connections meanwhile)."""
    return _first_all(lbs[new], after, _up)


def _client_phases(
    observations: Sequence[Observation], events: Sequence[Raw], fault_start: float, routed: float
) -> list[Phase]:
    """first write acked, replicas in rotation (when readiness took them out), clients reconnected,
    backlog delivered: from the load's events and the chat backend's status."""
    out: list[Phase] = []
    acked = min((e[0] for e in events if e[1] in _WRITES and e[2] and e[0] >= routed), default=None)
    if acked is None:
        return out
    out.append(_phase("first write acked", acked, fault_start, "load"))
    previous = acked
    # the replicas in rotation before the fault (spare server slots stay in MAINT and do not count)
    chat = [
        s for k in _keys(observations, "lb.") if ".chat/" in k and _up((s := _Series(observations, k)).at(fault_start))
    ]
    if any(not _up(v) for series in chat for t, v in series.points if fault_start <= t <= acked):
        rotation = _first_all(chat, routed, _up)
        if rotation is None:
            return out
        out.append(_phase("replicas in rotation", rotation, fault_start, "lb"))
        previous = max(acked, rotation)
    reconnected = _ws_back(events, previous, _ws_open(events, fault_start))
    if reconnected is None:
        return out
    out.append(_phase("clients reconnected", reconnected, fault_start, "load"))
    backlog = [e[0] for e in events if e[1] == Kind.DELIVERY and e[0] >= fault_start and e[0] - e[4] / 1000 <= acked]
    out.append(_phase("backlog delivered", max([reconnected, *backlog]), fault_start, "load"))
    return out


def _ws_open(events: Sequence[Raw], t: float) -> int:
    """WebSockets open at ``t``: connects that succeeded minus closes, up to ``t``."""
    opened = sum(1 for e in events if e[1] == Kind.WS_CONNECT and e[2] and e[0] <= t)
    closed = sum(1 for e in events if e[1] == Kind.WS_CLOSE and e[0] <= t)
    return opened - closed


def _ws_back(events: Sequence[Raw], after: float, baseline: int) -> float | None:
    """The first time at or after ``after`` with at least ``baseline`` WebSockets open."""
    count = _ws_open(events, after)
    if count >= baseline:
        return after
    for e in sorted(e for e in events if e[0] > after and e[1] in (Kind.WS_CONNECT, Kind.WS_CLOSE)):
        count += 1 if e[1] == Kind.WS_CONNECT and e[2] else -1 if e[1] == Kind.WS_CLOSE else 0
        if count >= baseline:
            return e[0]
    return None


def replica_phases(observations: Sequence[Observation], events: Sequence[Raw], fault_start: float) -> list[Phase]:
    """A killed chat replica's phases (see the module doc), sorted by time."""
    out = [_phase("fault", fault_start, fault_start, "fault")]
    victim, gone = _victim(observations, fault_start)
    if victim is None or gone is None:
        return out
    proc = _Series(observations, f"proc.{victim}")
    old = proc.at(fault_start)
    out.append(_phase("process gone", gone, fault_start, "supervisor"))
    lbs = _lb_all(observations, "chat", victim)
    # marked down: the first HAProxy process that took it out (each one checks on its own clock)
    down = min((t for s in lbs if (t := s.first(gone, lambda v: not _up(v))) is not None), default=None)
    if down is not None:
        out.append(_phase("marked down", down, fault_start, "lb"))
    restarted = proc.first(gone, lambda v: _running_pid(v) is not None and v != old)
    if restarted is not None:
        out.append(_phase("restarted", restarted, fault_start, "supervisor"))
        ready = _Series(observations, f"ready.{victim}").first(restarted, lambda v: v is True)
        if ready is not None:
            out.append(_phase("ready", ready, fault_start, "replica"))
            if down is not None:
                back = _first_all(lbs, max(ready, down), _up)
                if back is not None:
                    out.append(_phase("in rotation", back, fault_start, "lb"))
    baseline = _ws_open(events, fault_start)
    reconnected = _ws_back(events, gone, baseline) if baseline > 0 else None
    if reconnected is not None:
        out.append(_phase("clients reconnected", reconnected, fault_start, "load"))
    return sorted(out, key=lambda p: float(p["at"]))


def _running_pid(value: Any) -> str | None:
    if not isinstance(value, str) or ":" not in value:
        return None
    state, pid = value.split(":", 1)
    return pid if state in ("RUNNING", "STARTING") and pid not in ("", "None", "0") else None


def _victim(observations: Sequence[Observation], fault_start: float) -> tuple[str | None, float | None]:
    """The chat replica whose process changed first after the fault, and when it did."""
    best: tuple[str | None, float | None] = (None, None)
    for key in _keys(observations, "proc.chat-"):
        series = _Series(observations, key)
        old = series.at(fault_start)
        if old is None:
            continue
        changed = series.first(fault_start, functools.partial(operator.ne, old))
        if changed is not None and (best[1] is None or changed < best[1]):
            best = (key.removeprefix("proc."), changed)
    return best


def request_recovery(events: Sequence[Raw], recovered_at: float, *, window_s: float, p95_ms: float | None) -> float:
    """The SLO's recovery at request resolution: the issue time of the last request issued in
    ``[recovered_at - window_s, recovered_at)`` that failed or took longer than ``p95_ms``; ``recovered_at``
    when there is none (events: completion time ``t``, latency ``value`` ms)."""
    limit = p95_ms if p95_ms is not None else float("inf")
    issued = [(e[0] - e[4] / 1000, e) for e in events if e[1] in _REQUESTS]
    bad = [t for t, e in issued if (not e[2] or e[4] > limit) and recovered_at - window_s <= t < recovered_at]
    return max(bad, default=recovered_at)


def anatomy(
    fault_key: str | None, observations: Sequence[Observation], events: Sequence[Raw], fault_start: float
) -> tuple[str | None, list[Phase]]:
    """(kind, phases) for the experiment's fault: ``db`` for a database failover, ``replica`` for a chat
    replica kill, (None, []) for any other fault or without observations."""
    if not observations or fault_key is None:
        return None, []
    if fault_key.startswith(DB_FAULTS):
        return "db", db_phases(observations, events, fault_start)
    if fault_key.startswith("kill:") and "chat" in fault_key:
        return "replica", replica_phases(observations, events, fault_start)
    return None, []


def anatomy_summary(
    kind: str,
    phases: Sequence[Phase],
    *,
    recovery_s: float | None,
    recovery_request_s: float | None,
) -> dict[str, Any]:
    """run.json's ``anatomy``: the phase that marks recovery, the last measured phase at or before the
    recovery (request resolution when known), whose ``at_s`` is the sum of the segments up to it; the gaps
    from it to the measured recovery (what no measured phase explains); when the service was back."""
    recovered = recovery_request_s if recovery_request_s is not None else recovery_s
    before = [p for p in phases if p["name"] != "fault" and recovered is not None and p["at_s"] <= recovered + 1e-9]
    last = before[-1] if before else None
    at_s = float(last["at_s"]) if last is not None else None

    def gap(r: float | None) -> float | None:
        return None if r is None or at_s is None else round(r - at_s, 3)

    service = RECOVERY_PHASE[kind]
    return {
        "kind": kind,
        "marks_recovery": last["name"] if last is not None else None,
        "sum_s": at_s,
        "recovery_s": recovery_s,
        "recovery_request_s": recovery_request_s,
        "gap_s": gap(recovery_s),
        "gap_request_s": gap(recovery_request_s),
        "service_back": service,
        "service_back_s": next((float(p["at_s"]) for p in phases if p["name"] == service), None),
    }
