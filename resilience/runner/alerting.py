"""Reading the alert receiver after an experiment: wait (bounded) for the expected alerts, then fetch.

    experiment ends ──► expected alerts not all notified and their deadline (fault start + within_s)
    not passed? poll GET <alerts>/alerts every 0.5 s until they are, or the deadline ──► notices

The receiver is the target's ``endpoints().alerts`` (the local stack runs one; a target without one has no
alerting part in its verdict, and an experiment that expects alerts there fails saying so).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from resilience.analysis.alerts import experiment_alerts
from resilience.errors import ProbeError
from resilience.runner.results import fault_window, read_records
from resilience.scenario import ExperimentPlan
from resilience.targets.base import Target

__all__ = ["NOTIFY_GRACE_S", "collect_notices", "fetch_notices", "wait_for_alerts"]

log = logging.getLogger(__name__)

NOTIFY_GRACE_S = 1.0
"""Past an expected alert's deadline, how long a notice already sent may take to arrive."""


def fetch_notices(base_url: str, since: float = 0.0, *, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every notice the receiver at ``base_url`` recorded since ``since`` (epoch s); ProbeError when it cannot."""
    url = f"{base_url.rstrip('/')}/alerts"
    try:
        resp = requests.get(url, params={"since": since}, timeout=timeout)
        resp.raise_for_status()
        body = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise ProbeError(f"alert receiver {url}: {exc}") from exc
    if not isinstance(body, list):
        raise ProbeError(f"alert receiver {url}: expected a JSON list, got {type(body).__name__}")
    return body


def wait_for_alerts(
    base_url: str,
    expected: Sequence[Mapping[str, Any]],
    *,
    fault_start: float | None,
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.time,
) -> list[dict[str, Any]]:
    """The receiver's notices once every expected alert fired after ``fault_start`` or the last deadline
    (``fault_start + within_s + NOTIFY_GRACE_S``) passed; ``stop()`` true ends the wait early (a signal)."""
    notices = fetch_notices(base_url)
    if fault_start is None or not expected:
        return notices
    deadline = fault_start + max(float(e["within_s"]) for e in expected) + NOTIFY_GRACE_S
    while clock() < deadline and not stop():
        alerts = experiment_alerts(notices, expected, fault_start=fault_start, end=clock())
        if all(a["fired_s"] is not None and a["fired_s"] >= 0 for a in alerts if a["expected"]):
            break
        time.sleep(min(0.5, max(0.0, deadline - clock())))
        notices = fetch_notices(base_url)
    return notices


def collect_notices(
    target: Target | None,
    plan: ExperimentPlan,
    out_dir: Path,
    *,
    stop: Callable[[], bool],
    errors: list[str],
) -> list[dict[str, Any]] | None:
    """The notices to judge experiment ``plan`` (output folder ``out_dir``) by; None when the target has no
    receiver or it cannot be read (the error is appended to ``errors``)."""
    alerts_url = target.endpoints().alerts if target is not None else None
    if alerts_url is None:
        return None
    fault_start, _ = fault_window(read_records(out_dir)["faults"])
    expected = [e.model_dump() for e in plan.expect_alerts]
    try:
        return wait_for_alerts(alerts_url, expected, fault_start=fault_start, stop=stop)
    except ProbeError as exc:
        if expected:  # alerting is part of this verdict: the run cannot be judged
            errors.append(f"{out_dir.name}: alerts not read: {exc}")
        else:
            log.warning("%s: alerts not read: %s", out_dir.name, exc)
        return None
