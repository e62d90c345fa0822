"""Alerts during an experiment, from the alert receiver's notices (pure).

A notice is one record of ``resilience.alerting.receiver`` (``t`` received, ``name``, ``status``,
``fingerprint``). An *episode* is one alert (one fingerprint) from its first firing notice to the resolved
notice that follows. An experiment's alerts are the episodes active at some time between its fault start
and the end of its observation; each alert name is reported once, with the earliest firing and, when every
one of its episodes resolved, the latest resolution, both in seconds from the fault start.

Judging (``alert_problems``): an expected alert that did not fire, fired later than its ``within_s``, or was
only firing since before the fault (a leftover: no evidence this fault was noticed) is a failure; a broken
SLO with no alert at all is a *silent failure*.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Episode", "alert_problems", "episodes", "experiment_alerts", "silent_failure"]


@dataclass(frozen=True)
class Episode:
    """One alert instance firing from ``fired`` until ``resolved`` (epoch s received; None: still firing)."""

    name: str
    fingerprint: str
    fired: float
    resolved: float | None


def episodes(notices: Iterable[Mapping[str, Any]]) -> list[Episode]:
    """Episodes of a stream of notices (any order): a firing notice opens one, a resolved notice closes it."""
    open_: dict[str, tuple[str, float]] = {}
    out: list[Episode] = []
    for n in sorted(notices, key=lambda r: float(r["t"])):
        key = str(n.get("fingerprint") or n["name"]) + "\0" + str(n["name"])
        if n.get("status") == "resolved":
            if key in open_:
                name, fired = open_.pop(key)
                out.append(Episode(name, key, fired, float(n["t"])))
        elif key not in open_:
            open_[key] = (str(n["name"]), float(n["t"]))
    out.extend(Episode(name, key, fired, None) for key, (name, fired) in open_.items())
    return sorted(out, key=lambda e: e.fired)


def _s(t: float | None, origin: float) -> float | None:
    return None if t is None else round(t - origin, 3)


def experiment_alerts(
    notices: Iterable[Mapping[str, Any]],
    expected: Sequence[Mapping[str, Any]],
    *,
    fault_start: float,
    end: float,
) -> list[dict[str, Any]]:
    """run.json's ``alerts`` of one experiment: every expected alert (fired or not), then every other alert
    active between ``fault_start`` and ``end``; ``fired_s``/``resolved_s`` from the fault start."""
    active = [e for e in episodes(notices) if e.fired <= end and (e.resolved is None or e.resolved >= fault_start)]
    by_name: dict[str, list[Episode]] = {}
    for e in active:
        by_name.setdefault(e.name, []).append(e)
    out = []
    for exp in expected:
        eps = by_name.pop(str(exp["name"]), [])
        # an episode that began with this fault, if any; else one left over from before it (negative fired_s)
        eps = [e for e in eps if e.fired >= fault_start] or eps
        out.append(
            {"name": str(exp["name"]), "expected": True, "within_s": float(exp["within_s"]), **_times(eps, fault_start)}
        )
    for name, eps in sorted(by_name.items(), key=lambda kv: kv[1][0].fired):
        out.append({"name": name, "expected": False, "within_s": None, **_times(eps, fault_start)})
    return out


def _times(eps: Sequence[Episode], origin: float) -> dict[str, float | None]:
    if not eps:
        return {"fired_s": None, "resolved_s": None}
    resolved = None if any(e.resolved is None for e in eps) else max(e.resolved for e in eps if e.resolved is not None)
    return {"fired_s": _s(min(e.fired for e in eps), origin), "resolved_s": _s(resolved, origin)}


def silent_failure(alerts: Sequence[Mapping[str, Any]], detect_s: float | None) -> bool:
    """The SLO broke (``detect_s`` set) and no alert at all was firing during the experiment."""
    return detect_s is not None and not any(a.get("fired_s") is not None for a in alerts)


def alert_problems(alerts: Sequence[Mapping[str, Any]], detect_s: float | None) -> list[str]:
    """The alerting part of a verdict, one reason each: missing or late expected alerts, a silent failure."""
    reasons = []
    for a in alerts:
        if not a.get("expected"):
            continue
        if a.get("fired_s") is None:
            reasons.append(f"expected alert {a['name']} did not fire (within {a['within_s']:g} s)")
        elif a["fired_s"] < 0:
            reasons.append(
                f"expected alert {a['name']} was already firing {-a['fired_s']:.1f} s before the fault"
                " and did not fire again: no evidence it noticed this fault"
            )
        elif a["fired_s"] > a["within_s"]:
            reasons.append(f"expected alert {a['name']} fired after {a['fired_s']:.1f} s, within {a['within_s']:g} s")
    if silent_failure(alerts, detect_s):
        reasons.append(f"silent failure: the SLO broke {detect_s:.1f} s after the fault and no alert fired")
    return reasons
