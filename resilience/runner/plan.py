"""A scenario made ready to run: options, validation of the scenario and every selected experiment (once,
before anything is touched), and the dry run's description of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resilience.errors import ConfigError
from resilience.runner.experiments import validate_experiment
from resilience.scenario import ExperimentPlan, LoadedScenario, load_scenario
from resilience.targets import get_target
from resilience.targets.kube.applicability import fault_not_applicable
from resilience.targets.kube.dry_run import FaultPlanner, kill_plan_lines

__all__ = [
    "Plan",
    "RunOptions",
    "dry_run_lines",
    "kube_fault_plan",
    "not_applicable",
    "not_applicable_result",
    "prepare",
]


@dataclass(frozen=True)
class RunOptions:
    """What ``resilience run`` was asked to do."""

    scenario: Path
    target: str | None = None
    only: tuple[str, ...] = ()
    dry_run: bool = False
    results_dir: Path = Path("results")
    state_dir: Path | None = None
    teardown: bool = False


@dataclass(frozen=True)
class Plan:
    """A validated scenario, the experiments selected, and their Chaos Toolkit documents."""

    loaded: LoadedScenario
    experiments: tuple[tuple[ExperimentPlan, dict[str, Any]], ...]
    target: str


def prepare(opts: RunOptions) -> Plan:
    """Validate the scenario and every selected experiment (ConfigError on the first problem)."""
    loaded = load_scenario(opts.scenario)
    plans = loaded.scenario.experiments
    if opts.only:
        names = {p.name for p in plans}
        unknown = [n for n in opts.only if n not in names]
        if unknown:
            raise ConfigError(f"--only {', '.join(unknown)}: not in {opts.scenario} (has {', '.join(sorted(names))})")
        plans = [p for p in plans if p.name in opts.only]
    experiments = tuple((p, validate_experiment(loaded.experiment_path(p))) for p in plans)
    return Plan(loaded, experiments, opts.target or loaded.scenario.target)


def dry_run_lines(plan: Plan) -> list[str]:
    """What a run would do, without touching the target."""
    sc = plan.loaded.scenario
    lines = [
        f"scenario {sc.name} ({plan.loaded.path}) on target {plan.target}",
        f"load: {sc.load.users} users, profile {sc.load.profile}, warm-up {sc.load.warmup_s:g} s",
        f"SLO: {json.dumps(sc.slo.to_json())}, stabilisation {sc.stabilisation_s:g} s, safeguards {sc.safeguards}",
    ]
    for p, exp in plan.experiments:
        steps = ", ".join(str(a.get("name")) for a in exp.get("method", []))
        lines.append(
            f"  {p.name}: {exp.get('title')} | recovery target {p.recovery_target_s:g} s | method: {steps}"
            + (f" | pause {p.pause_after_s:g} s" if p.pause_after_s else "")
        )
    return lines


def kube_fault_plan(plan: Plan) -> list[str]:
    """On kind/staging: the pods each kill action would hit now (read-only, through the safety guard)."""
    options = dict(plan.loaded.scenario.targets.get(plan.target, {}))
    target = get_target(plan.target, **options)
    if not isinstance(target, FaultPlanner):
        return [f"what each fault would touch: target {plan.target} cannot plan faults without touching them"]
    named = [(p.name, exp) for p, exp in plan.experiments]
    return ["what each fault would touch:", *kill_plan_lines(target, named, seed=options.get("seed"))]


def not_applicable(plan: Plan, target: object) -> dict[str, str]:
    """Experiment name -> why it cannot run on ``target`` at all (a method action the target has no
    equivalent for: patroni-crash on CloudNativePG, a node drain on the local stack). Read-only."""
    out: dict[str, str] = {}
    for p, experiment in plan.experiments:
        for activity in experiment.get("method") or []:
            provider = activity.get("provider") or {}
            why = fault_not_applicable(
                target, str(provider.get("module")), str(provider.get("func")), provider.get("arguments") or {}
            )
            if why:
                out[p.name] = f"{activity.get('name')}: {why}"
                break
    return out


def not_applicable_result(plan: Plan, name: str, reason: str) -> dict[str, Any]:
    """The run.json entry of an experiment skipped as not applicable: nothing ran, nothing is judged."""
    (file,) = [str(plan.loaded.experiment_path(p)) for p, _ in plan.experiments if p.name == name]
    return {"name": name, "file": file, "verdict": "not_applicable", "reasons": [reason]}
