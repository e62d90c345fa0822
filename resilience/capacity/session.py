"""``resilience capacity SCENARIO``: bring the target up, run the plan, write capacity.json, run.json, reports.

The composition root of a capacity run: target (brought up when it is down), signal handling (SIGINT and
SIGTERM interrupt the run; reverts are not cut short by a second signal), the real step measurement and
conditions, then ``results/<run-id>/``: ``capacity.json`` (the knees), ``run.json`` (the run contract,
``"kind": "capacity"``, no experiments, a ``capacity`` summary for compare/trend) and the reports.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.markup import escape

from resilience import __version__
from resilience.capacity.conditions import StepHooks, engage, wait_healthy
from resilience.capacity.measure import StepMeasurer
from resilience.capacity.plan import CapacityPlan, ConditionPlan, LoadedPlan, load_capacity_plan
from resilience.capacity.result import CapacityResult, condition_line, read_capacity
from resilience.capacity.runner import RunInfo, run_capacity, step_cost_s
from resilience.errors import EXIT_ABORTED, EXIT_INTERRUPTED, EXIT_OK, ConfigError, ResilienceError
from resilience.report import write_report
from resilience.rundoc import host_platform, write_run
from resilience.runner.progress import Reporter
from resilience.runner.signals import SignalGate
from resilience.safety.redact import scrub_folder
from resilience.targets import get_target
from resilience.targets.base import Target

__all__ = ["CapacityOptions", "estimate_s", "plan_lines", "run_capacity_scenario"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CapacityOptions:
    """What ``resilience capacity`` was asked to do."""

    scenario: Path
    target: str | None = None
    only: tuple[str, ...] = ()
    repeats: int | None = None
    budget_s: float | None = None
    dry_run: bool = False
    results_dir: Path = Path("results")
    state_dir: Path | None = None
    teardown: bool = False


def _prepare(opts: CapacityOptions) -> LoadedPlan:
    loaded = load_capacity_plan(opts.scenario)
    plan = loaded.plan
    names = [c.name for c in plan.conditions]
    unknown = [n for n in opts.only if n not in names]
    if unknown:
        raise ConfigError(f"--only {', '.join(unknown)}: not a condition of {opts.scenario} (has {', '.join(names)})")
    update: dict[str, Any] = {}
    if opts.only:
        update["conditions"] = [c for c in plan.conditions if c.name in opts.only]
    if opts.repeats is not None:
        update["repeats"] = opts.repeats
    if opts.budget_s is not None:
        update["budget_s"] = opts.budget_s
    if opts.target is not None:
        update["target"] = opts.target
    return LoadedPlan(loaded.path, plan.model_copy(update=update))


def search_steps(plan: CapacityPlan) -> list[int]:
    """The users a search measures at most when the knee is at the top: growth, then bisection."""
    ladder = plan.ladder()
    if ladder is not None:
        return ladder
    spec = plan.searching()
    users = [spec.start]
    while users[-1] < spec.max:
        users.append(min(spec.max, max(users[-1] + 1, math.ceil(users[-1] * spec.factor))))
    bisections = math.ceil(math.log2(max(math.log(spec.factor) / math.log1p(spec.resolution), 1.0)))
    return users + [spec.max] * bisections


def estimate_s(plan: CapacityPlan) -> float:
    """Nominal seconds if every search ran to its top (an upper bound; a knee below it is found sooner)."""
    steps = search_steps(plan)
    return sum(sum(step_cost_s(plan, u, c) for u in steps) for c in plan.conditions) * plan.repeats


def _how(plan: CapacityPlan) -> str:
    ladder = plan.ladder()
    if ladder is not None:
        return f"ladder: {len(ladder)} steps {ladder[0]}..{ladder[-1]} users"
    spec = plan.searching()
    return (
        f"search: from {spec.start} users x{spec.factor:g} until the SLO clearly breaks (at most {spec.max:,}), "
        f"then bisect to {spec.resolution:.0%}"
    )


def plan_lines(loaded: LoadedPlan) -> list[str]:
    """What a run would do, without touching the target."""
    plan = loaded.plan
    lines = [
        f"capacity plan {plan.name} ({loaded.path}) on target {plan.target}, against {plan.target_users:,} users",
        f"{_how(plan)}; spawn {plan.load.spawn_rate:g}/s, "
        f"warm-up {plan.load.warmup_s:g} s, hold {plan.hold_s:g} s; {plan.repeats} repeat(s)",
        f"SLO: {json.dumps(plan.slo.to_json())} on p95 of {plan.latency}",
        f"budget {plan.budget_s:g} s; every search to the top would take {estimate_s(plan):.0f} s",
    ]
    for c in plan.conditions:
        slo = f" | SLO overrides {c.slo}" if c.slo else ""
        if c.hold_s is not None:
            slo += f" | hold {c.hold_s:g} s"
        if c.disruption:
            slo += f" | breaks the SLO by design: judged on recovery within {c.recovery_limit_s:g} s"
        lines.append(f"  {c.name}: {json.dumps(c.fault_json())}{slo}")
    return lines


def _run_id(name: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{name}-{os.getpid()}"


def _bring_up(opts: CapacityOptions, plan: CapacityPlan, say: Reporter) -> Target:
    options: dict[str, Any] = {"state_dir": opts.state_dir} if opts.state_dir else {}
    target = get_target(plan.target, **options)
    if not target.is_up():
        say(f"bringing target {target.name} up")
        t0 = time.monotonic()
        target.up(progress=lambda line: say(f"  {line}"))
        say(f"target {target.name} up in {time.monotonic() - t0:.1f} s")
    wait_healthy(target)
    return target


def run_json(result: CapacityResult, loaded: LoadedPlan) -> dict[str, Any]:
    """run.json of a capacity run: the run contract, no experiments, and the knees for compare/trend."""
    plan = loaded.plan
    verdict = {"completed": "passed", "budget-exhausted": "passed"}.get(result.status, result.status)
    return {
        "run_id": result.run_id,
        "kind": "capacity",
        "scenario": result.scenario,
        "target": result.target,
        "started": result.started,
        "ended": result.ended,
        "verdict": verdict,
        "experiments": [],
        "load": {
            "users": max((s.users for c in result.conditions for r in c.repeats for s in r.steps), default=0),
            "profile": "step-ladder" if plan.ladder() is not None else "knee-search",
            "events_dir": "capacity",
        },
        "slo": plan.slo.to_json(),
        "capacity": {
            "status": result.status,
            "target_users": result.target_users,
            "knees": {
                c.name: None
                if c.knee is None
                else {
                    "users": c.knee.users,
                    "ci_low": c.knee.ci_low,
                    "ci_high": c.knee.ci_high,
                    "censored": c.knee.censored,
                    "below_range": c.knee.below_range,
                    "n": c.knee.n,
                    "repeats": c.knee.repeats,
                    "judged_on": c.judged_on,
                }
                for c in result.conditions
            },
        },
        "environment": {
            "resilience": __version__,
            "python": platform.python_version(),
            "platform": host_platform(),
            "target": result.target,
            "load": plan.load.model_dump(),
        },
        "reproduce": f"resilience capacity {loaded.path} --target {plan.target}",
    }


def _finish(run_dir: Path, result: CapacityResult | None, loaded: LoadedPlan, say: Reporter) -> None:
    if result is None and (run_dir / "capacity.json").is_file():
        result = read_capacity(run_dir)
    if result is None:
        return
    write_run(run_dir, run_json(result, loaded))
    try:
        written = write_report(run_dir)
        say(f"reports: {', '.join(str(p.relative_to(run_dir)) for p in written)}")
    except Exception as exc:  # noqa: BLE001 - a broken chart must not hide the knees
        say(f"reports failed: {exc}")
    for cond in result.conditions:
        say(f"[bold]{cond.name}[/bold]: {escape(condition_line(cond))}")


def run_capacity_scenario(opts: CapacityOptions, reporter: Reporter | None = None) -> int:
    """Run (or describe, with ``dry_run``) a capacity plan; exit code 0, 2 (aborted) or 130 (interrupted)."""
    loaded = _prepare(opts)
    say = reporter or Reporter()
    if opts.dry_run:
        for line in plan_lines(loaded):
            say.console.print(line, markup=False, highlight=False, soft_wrap=True)
        return EXIT_OK
    plan = loaded.plan
    run_id = _run_id(plan.name)
    run_dir = opts.results_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    info = RunInfo(run_id=run_id, scenario=str(loaded.path), target=plan.target, run_dir=run_dir)
    gate = SignalGate()
    gate.install()
    result: CapacityResult | None = None
    code = EXIT_OK
    target: Target | None = None
    try:
        say(f"run {run_id}: capacity plan {plan.name}, {len(plan.conditions)} condition(s) -> {run_dir}")
        target = _bring_up(opts, plan, say)

        @contextlib.contextmanager
        def engaged(cond: ConditionPlan) -> Iterator[StepHooks]:
            assert target is not None
            with contextlib.ExitStack() as stack:
                hooks = stack.enter_context(engage(cond, target))
                try:
                    yield hooks
                finally:
                    with gate.deferred():
                        stack.close()
                    gate.raise_if_received()  # a signal during the revert still ends the run (exit 130)

        result = run_capacity(
            plan,
            info,
            engage=engaged,
            measure=StepMeasurer(target, plan, gate),
            progress=lambda line: say(escape(line)),
        )
    except KeyboardInterrupt:
        say(f"interrupted ({gate.received or 'SIGINT'})")
        code = EXIT_INTERRUPTED
    except ResilienceError as exc:
        say(f"[red]error[/red]: {exc}")
        code = exc.exit_code if exc.exit_code != EXIT_OK else EXIT_ABORTED
    finally:
        with gate.deferred():
            try:
                _finish(run_dir, result, loaded, say)
                scrub_folder(run_dir)  # Locust's logs, capacity.json, the report: no secret leaves in results/
                if opts.teardown and target is not None:
                    say(f"tearing target {target.name} down")
                    target.down()
            finally:
                gate.restore()
    say(f"results: {run_dir}")
    return code
