"""Pods as the harness sees them, and which of them a kill would hit (pure computation)."""

from __future__ import annotations

import math
import random
from typing import Any

from resilience.errors import ConfigError, TargetError
from resilience.targets.base import Pod

__all__ = [
    "GRACE_PERIODS",
    "choose_victims",
    "grace_period",
    "is_finished",
    "is_terminating",
    "pod_from_json",
    "victim_count",
]

GRACE_PERIODS: dict[str, int | None] = {"SIGKILL": 0, "SIGTERM": None}
"""Signal -> ``gracePeriodSeconds`` of the delete: 0 kills at once, None uses the pod's own grace period."""


def grace_period(signal: str) -> int | None:
    """The delete's grace period for ``signal``; ConfigError for a signal the API cannot deliver."""
    if signal not in GRACE_PERIODS:
        raise ConfigError(f"signal {signal!r}: a Kubernetes target can send {' or '.join(GRACE_PERIODS)}")
    return GRACE_PERIODS[signal]


def is_terminating(obj: dict[str, Any]) -> bool:
    """Whether the pod is being deleted."""
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def is_finished(obj: dict[str, Any]) -> bool:
    """Whether the pod has run to an end (a Job's pod, an evicted pod): not a replica of anything any more."""
    return (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return status.get("phase") == "Running" and conditions.get("Ready") == "True" and not is_terminating(obj)


def pod_from_json(obj: dict[str, Any]) -> Pod:
    """The Target's Pod for an API pod object (pid is None: processes live on the nodes)."""
    meta = obj.get("metadata") or {}
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    return Pod(
        name=str(meta.get("name", "")),
        labels=dict(meta.get("labels") or {}),
        ready=_ready(obj),
        pid=None,
        restarts=sum(int(s.get("restartCount", 0)) for s in statuses),
    )


def victim_count(matching: int, count: int | None, percent: float | None) -> int:
    """How many of ``matching`` pods to kill: ``count``, or ``percent`` % rounded up, default 1."""
    if count is not None and percent is not None:
        raise ConfigError("kill: give count or percent, not both")
    if count is not None:
        if count < 1:
            raise ConfigError(f"kill: count must be >= 1 (got {count})")
        wanted = count
    elif percent is not None:
        if not 0 < percent <= 100:
            raise ConfigError(f"kill: percent must be in (0, 100] (got {percent})")
        wanted = max(1, math.ceil(matching * percent / 100))
    else:
        wanted = 1
    if wanted > matching:
        raise TargetError(f"kill: asked for {wanted} pod(s) but only {matching} match")
    return wanted


def choose_victims(candidates: list[Pod], n: int, seed: int | None, selector: str) -> list[Pod]:
    """``n`` pods chosen at random; with a seed the choice depends only on the seed, selector and pod names."""
    ordered = sorted(candidates, key=lambda p: p.name)
    rng = random.Random(f"{seed}:{selector}") if seed is not None else random.Random()
    return sorted(rng.sample(ordered, n), key=lambda p: p.name)
