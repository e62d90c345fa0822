"""Deploys: the harness starts a deploy and observes; the target's own machinery rolls out, analyses and
rolls back (``Deployer.deploy``).

The deploy is recorded in the fault ledger *before* it starts (kind ``deploy``): a run interrupted in the
middle of it, or a crashed harness, leaves a record that ``resilience cleanup`` reverts by rolling the
target back. A deploy that ended (completed, halted, rolled back by the system) settles its record. Each
deploy's result is appended to ``deploys.jsonl`` in the experiment's folder, with the outcome the experiment
expected; the runner puts it in run.json and judges it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from resilience.context import RunContext
from resilience.errors import ConfigError
from resilience.faults.ledger import Fault, fault_ledger
from resilience.targets.base import Deployer

__all__ = ["deploy_release", "deploy_train"]

_KEY = "deploy"
_OUTCOMES = ("completed", "halted", "rolled_back")


def _deployer(configuration: Mapping[str, Any] | None) -> tuple[RunContext, Deployer]:
    context = RunContext.of(configuration)
    target = context.target
    if not isinstance(target, Deployer):
        raise ConfigError(
            f"target {target.name!r} has no deploy machinery (the local target, or a cluster running deploy/chart)"
        )
    return context, target


def _one(
    context: RunContext, target: Deployer, release: str, *, strategy: str, expect: str, analysis: Any, options: Any
) -> dict[str, Any]:
    previous = context.target.release()
    fault = Fault("deploy", _KEY, {"release": release, "previous": previous, "strategy": strategy})
    ledger = fault_ledger()
    result = ledger.apply_fault(
        context.target,
        fault,
        lambda: target.deploy(release, strategy, analysis=analysis, options=options),
        out_dir=context.out_dir,
    )
    ledger.revert_fault(_KEY)  # the deploy ended: nothing left to undo (an unfinished one is rolled back)
    record = {**result.to_json(), "expected": expect}
    if context.out_dir is not None:
        with (context.out_dir / "deploys.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    return record


def deploy_release(
    release: str = "good",
    *,
    strategy: str = "rolling",
    expect: str = "completed",
    analysis: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Deploy ``release`` with ``strategy`` (``rolling``, ``blue-green``) and wait until it completed, halted
    or rolled back by itself; ``expect`` is the outcome the experiment needs (the runner judges it).
    ``analysis``: an Argo Rollouts AnalysisTemplate spec (default: the target's); ``options``:
    ``progressDeadlineSeconds``, ``scaleDownDelaySeconds``."""
    if expect not in _OUTCOMES:
        raise ConfigError(f"deploy_release: expect must be one of {', '.join(_OUTCOMES)}, got {expect!r}")
    context, target = _deployer(configuration)
    return _one(context, target, release, strategy=strategy, expect=expect, analysis=analysis, options=options)


def deploy_train(
    count: int = 10,
    *,
    bad_at: int = 5,
    bad_release: str = "bad-errors",
    strategy: str = "rolling",
    pause_s: float = 2.0,
    configuration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``count`` deploys in a row under load: ``good`` each time (a new revision), ``bad_release`` as deploy
    number ``bad_at`` (1-based; 0: none), which the system must roll back. Returns the change failure rate."""
    if count < 1 or not 0 <= bad_at <= count:
        raise ConfigError(f"deploy_train: need count >= 1 and 0 <= bad_at <= count, got {count}, {bad_at}")
    context, target = _deployer(configuration)
    records = []
    for i in range(1, count + 1):
        bad = i == bad_at
        release = bad_release if bad else "good"
        expect = "rolled_back" if bad else "completed"
        records.append(_one(context, target, release, strategy=strategy, expect=expect, analysis=None, options=None))
        if i < count:
            time.sleep(pause_s)
    failed = sum(r["outcome"] != "completed" for r in records)
    return {"deploys": len(records), "failed": failed, "change_failure_rate": failed / len(records)}
