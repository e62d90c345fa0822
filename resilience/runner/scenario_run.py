"""``resilience run``: a scenario's experiments, in order, under continuous load, judged and written down.

The load starts once and spans every experiment; each experiment runs through chaoslib on the main
thread (rollbacks always); verdicts come from the journals and the load timeline; results/<run-id>/
gets journals, raw events, timelines, run.json and the reports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import chaoslib

from resilience import __version__
from resilience.analysis.generator import GeneratorHealth, judge_generator, read_generator
from resilience.analysis.integrity import check_integrity
from resilience.analysis.samples import samples_from_rows
from resilience.analysis.timeline import timeline_from_events
from resilience.context import RunContext, share_target
from resilience.controls.load import start_target_load
from resilience.errors import EXIT_INTERRUPTED, LoadError, ResilienceError
from resilience.faults.ledger import fault_ledger
from resilience.load.events import EventTail, Kind, Raw
from resilience.probes import slo as slo_probe
from resilience.report import write_report
from resilience.rundoc import host_platform, write_run
from resilience.runner.alerting import collect_notices
from resilience.runner.engine import run_experiment_file
from resilience.runner.plan import (
    Plan,
    RunOptions,
    dry_run_lines,
    kube_fault_plan,
    not_applicable,
    not_applicable_result,
)
from resilience.runner.progress import Reporter
from resilience.runner.results import experiment_result, read_jsonl, read_records
from resilience.runner.server_slo import check_server_slo, judge_server_slo
from resilience.runner.server_view import write_server_timeline
from resilience.runner.signals import SignalGate
from resilience.runner.verdict import exit_code, overall
from resilience.runner.watch import OBSERVATIONS_FILE, watch
from resilience.scenario import ExperimentPlan
from resilience.targets import get_target
from resilience.targets.base import Target

__all__ = ["run_scenario", "window_records"]

log = logging.getLogger(__name__)

_FLUSH_S = 1.0
"""Wait this long after an experiment so the load's last events are on disk before the analysis."""
_TIMELINE_RESOLUTION_S = 0.1
_STEADY_TIMEOUT_S = 60.0
_STEADY_MIN_S = 5.0


def _run_id(name: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{name}-{os.getpid()}"


def _sleep(seconds: float, *, alive: Any = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise LoadError("the load generator stopped unexpectedly (see its log in the run folder)")
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


_WS_STATE = (Kind.WS_CONNECT, Kind.WS_CLOSE)


def window_records(
    kept: Sequence[Raw], appended: Sequence[Raw], *, start: float, end: float
) -> tuple[list[Raw], list[Raw]]:
    """Records to keep for the next experiment (``t >= start``) and this experiment's (``start <= t < end``).

    ``kept`` are the records already read, ``appended`` only the bytes appended since (``EventTail``), so
    each record is read once; records before ``start`` are dropped for good (pure) — except WebSocket
    connects and closes, whatever their time: the WebSockets open when a window starts are their running
    sum (most connect once, when the load starts, long before the experiment).
    """
    keep = [r for r in (*kept, *appended) if r[0] >= start or r[1] in _WS_STATE]
    return keep, [r for r in keep if r[0] < end]


class _Run:
    """State of one run; each step is a short method."""

    def __init__(self, opts: RunOptions, plan: Plan, reporter: Reporter) -> None:
        self.opts, self.plan = opts, plan
        self.reporter = reporter
        self.started = reporter.run_start
        self.run_id = _run_id(plan.loaded.scenario.name)
        self.dir = opts.results_dir / self.run_id
        self.gate = SignalGate()
        self.results: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.target: Target | None = None
        self.load: Any = None
        self.tail: EventTail | None = None
        self.records: list[Raw] = []
        self.context = RunContext()
        self.not_applicable: dict[str, str] = {}
        """Experiment name -> why the target cannot run it (reported NOT APPLICABLE, skipped)."""

    def bring_up(self) -> Target:
        options: dict[str, Any] = dict(self.plan.loaded.scenario.targets.get(self.plan.target, {}))
        if self.opts.state_dir:
            options["state_dir"] = self.opts.state_dir
        target = get_target(self.plan.target, **options)
        self.context = RunContext(target_name=self.plan.target, state_dir=self.opts.state_dir)
        share_target(self.context, target)
        if not target.is_up():
            self.reporter(f"bringing target {target.name} up")
            t0 = time.monotonic()
            target.up(progress=lambda line: self.reporter(f"  {line}"))
            self.reporter(f"target {target.name} up in {time.monotonic() - t0:.1f} s")
        return target

    def start_load(self, target: Target) -> None:
        spec = self.plan.loaded.scenario.load
        self.reporter(f"starting load: {spec.users} users ({spec.profile}); warm-up {spec.warmup_s:g} s")
        self.load = start_target_load(target, spec.params(), self.dir / "load", workers=spec.workers)
        self.tail = EventTail(Path(self.load.events_dir))
        _sleep(spec.warmup_s, alive=self.load.alive)

    def steady_state(self, plan: ExperimentPlan) -> dict[str, Any]:
        """Wait (bounded) until the experiment's SLO holds for its stabilisation window, before its hypothesis:
        start-up noise or the last experiment's tail is no baseline. What happened goes in run.json."""
        sc = self.plan.loaded.scenario
        t0 = time.monotonic()
        config = RunContext(events_dir=Path(self.load.events_dir)).to_configuration()
        # at least as long as the hypotheses' own windows (3 s in experiments/), or they see start-up noise
        stable_s = max(sc.stabilisation_for(plan), _STEADY_MIN_S)
        held = slo_probe.wait_for_slo(
            stable_s=stable_s, timeout_s=_STEADY_TIMEOUT_S, slo=sc.slo_for(plan).model_dump(), configuration=config
        )
        waited = round(time.monotonic() - t0, 1)
        if held:
            self.reporter(f"{plan.name}: steady state: the SLO held for {stable_s:g} s (waited {waited:g} s)")
        else:
            self.reporter(
                f"{plan.name}: [yellow]no steady state within {_STEADY_TIMEOUT_S:g} s[/yellow]:"
                " the hypothesis runs anyway"
            )
        return {"held": held, "waited_s": waited, "stable_s": stable_s, "timeout_s": _STEADY_TIMEOUT_S}

    def one(self, plan: ExperimentPlan, experiment: dict[str, Any]) -> dict[str, Any]:
        sc = self.plan.loaded.scenario
        slo = sc.slo_for(plan)
        out = self.dir / plan.name
        config = dataclasses.replace(
            self.context,
            out_dir=out,
            events_dir=Path(self.load.events_dir),
            ledger_dir=Path(self.load.ledger_dir),
            load_managed=True,
            slo=slo.model_dump(),
            safeguards=dict(sc.safeguards),
        ).to_configuration()
        self.reporter(f"[bold]{plan.name}[/bold]: {experiment.get('title')}")
        started = time.time()
        # the components' state, read all along, for the failover anatomy (runner/watch.py)
        with watch(self.target, out) or contextlib.nullcontext():
            journal = run_experiment_file(
                experiment, plan.name, configuration=config, out_dir=out, progress=self.reporter, gate=self.gate
            )
        ended = time.time()
        notices = collect_notices(self.target, plan, out, stop=lambda: self.gate.interrupted, errors=self.errors)
        write_server_timeline(self.target, out, started - 5, time.time())
        with self.gate.deferred():
            return self._analyse(plan, journal, (started, ended), out, notices)

    def _analyse(
        self, plan: ExperimentPlan, journal: dict[str, Any], window: tuple[float, float], out: Path, notices: Any
    ) -> dict[str, Any]:
        sc = self.plan.loaded.scenario
        slo = sc.slo_for(plan)
        res = slo.window_s
        started, ended = window
        time.sleep(_FLUSH_S)
        assert self.tail is not None
        self.records, records = window_records(self.records, self.tail.poll(), start=started - 5, end=ended)
        # the verdict attributes each request to the moment it was issued (the service's state then);
        # the completion-time figures are kept beside it for comparison (docs/analysis.md)
        timeline_from_events(
            lambda: records, resolution_s=_TIMELINE_RESOLUTION_S, start=started - 5, end=ended, by="start"
        ).write_csv(out / "timeline.csv")
        samples = samples_from_rows(
            timeline_from_events(lambda: records, resolution_s=res, start=started - 5, end=ended, by="start").rows
        )
        by_completion = samples_from_rows(
            timeline_from_events(lambda: records, resolution_s=res, start=started - 5, end=ended).rows
        )
        integrity = self._integrity(plan, started)
        result = experiment_result(
            name=plan.name,
            file=os.path.normpath(self.plan.loaded.experiment_path(plan)),
            journal=journal,
            records=read_records(out),
            samples=samples,
            samples_by_completion=by_completion,
            resolution_s=res,
            slo=slo,
            slo_json=slo.to_json(),
            stabilisation_s=sc.stabilisation_for(plan),
            recovery_target_s=plan.recovery_target_s,
            started=started,
            ended=ended,
            integrity=integrity,
            interrupted_by=self.gate.received,
            notices=notices,
            expect_alerts=[e.model_dump() for e in plan.expect_alerts],
            error_budget=sc.error_budget,
            observations=read_jsonl(out / OBSERVATIONS_FILE),
            events=records,
            generator=self._generator(started, ended),
        )
        self._server_slo(result, slo)
        self.reporter.verdict(plan.name, result["verdict"], result["reasons"])
        return result

    def _generator(self, started: float, ended: float) -> GeneratorHealth | None:
        """The load generator's health over one experiment (None: the load keeps no health samples)."""
        folder = getattr(self.load, "generator_dir", None)
        return judge_generator(read_generator(Path(folder)), started, ended) if folder else None

    def _server_slo(self, result: dict[str, Any], slo: Any) -> None:
        """The scenario's PromQL objectives just before the fault and at the end (runner/server_slo.py)."""
        if not slo.promql or self.target is None:
            return
        before = result["fault_start"] - 0.001 if result.get("fault_start") is not None else None
        entries, reasons = judge_server_slo(
            slo, self.target.endpoints().prometheus, before=before, after=result["ended"]
        )
        result["server_slo"] = entries
        if reasons and result["verdict"] == "passed":
            result["verdict"] = "failed"
        result["reasons"] = [*result["reasons"], *reasons]

    def _integrity(self, plan: ExperimentPlan, since: float | None) -> dict[str, Any] | None:
        if not plan.integrity or self.target is None:
            return None

        try:
            report: dict[str, Any] = check_integrity(
                self.load.ledger_dir, self.target.endpoints().postgres, since=since
            ).to_json()
        except ResilienceError as exc:
            self.errors.append(f"{plan.name}: integrity check failed: {exc}")
            return None
        return report

    def experiments(self) -> None:
        for i, (plan, experiment) in enumerate(self.plan.experiments):
            if plan.name in self.not_applicable:
                reason = self.not_applicable[plan.name]
                self.results.append(not_applicable_result(self.plan, plan.name, reason))
                self.reporter.verdict(plan.name, "not_applicable", [reason])
                continue
            if not self.load.alive():
                raise LoadError(f"the load generator stopped before {plan.name} (see {self.dir / 'load'})")
            steady = self.steady_state(plan)
            result = {**self.one(plan, experiment), "steady_wait": steady}
            self.results.append(result)
            if self.gate.interrupted or (result["verdict"] in ("interrupted", "aborted") and result.get("safeguard")):
                break
            if plan.pause_after_s and i + 1 < len(self.plan.experiments):
                self.reporter(f"pause {plan.pause_after_s:g} s")
                _sleep(plan.pause_after_s, alive=self.load.alive)

    def finish(self) -> dict[str, Any]:
        """Revert, stop the load, write run.json and the reports; the run.json document."""
        with self.gate.deferred():
            try:
                reverted = fault_ledger().revert_all()
                if reverted:
                    self.reporter(f"reverted left-over faults: {', '.join(reverted)}")
            except ResilienceError as exc:
                self.errors.append(str(exc))
            if self.load is not None:
                self.load.stop()
            run = self._document()
            write_run(self.dir, run)
            self._reports(run)
            if self.opts.teardown and self.target is not None:
                self.reporter(f"tearing target {self.target.name} down")
                self.target.down()
        return run

    def _document(self) -> dict[str, Any]:
        sc = self.plan.loaded.scenario
        verdicts = [r["verdict"] for r in self.results]
        skipped = len(self.results) < len(self.plan.experiments)
        verdict = overall(
            verdicts, interrupted=self.gate.interrupted, errored=bool(self.errors) or (skipped and not verdicts)
        )
        if skipped and verdict == "passed":
            verdict = "aborted"
        requests = sum(int(r.get("requests") or 0) for r in self.results)
        acked = sum(int((r.get("integrity") or {}).get("acked", 0) or 0) for r in self.results)
        only = "".join(f" --only {n}" for n in self.opts.only)
        return {
            "run_id": self.run_id,
            "scenario": str(self.plan.loaded.path),
            "target": self.plan.target,
            "started": self.started,
            "ended": time.time(),
            "verdict": verdict,
            "errors": self.errors,
            "interrupted_by": self.gate.received,
            "experiments": self.results,
            "load": {"users": sc.load.users, "requests": requests, "messages_acked": acked, "events_dir": "load"},
            "slo": sc.slo.to_json(),
            "environment": {
                "resilience": __version__,
                "chaoslib": chaoslib.__version__,
                "python": platform.python_version(),
                "platform": host_platform(),
                "target": self.plan.target,
                "load": sc.load.model_dump(),
            },
            "reproduce": f"resilience run {self.plan.loaded.path} --target {self.plan.target}{only}",
        }

    def _reports(self, run: dict[str, Any]) -> None:
        try:
            written = write_report(self.dir)
        except Exception as exc:  # noqa: BLE001 - a broken chart must not hide the verdict
            self.reporter(f"reports failed: {exc}")
            return
        self.reporter(f"reports: {', '.join(str(p.relative_to(self.dir)) for p in written)}")


def _quiet_chaostoolkit() -> None:
    """chaoslib logs every step at INFO/WARNING; our progress lines say it better (``-v`` shows it again)."""
    chaos = logging.getLogger("chaostoolkit")
    if logging.getLogger().getEffectiveLevel() >= logging.WARNING:
        chaos.setLevel(logging.CRITICAL + 1)


def run_scenario(plan: Plan, opts: RunOptions, reporter: Reporter | None = None) -> int:
    """Run (or, with ``dry_run``, describe) the plan ``prepare(opts)`` validated; the exit code of DESIGN.md."""
    reporter = reporter or Reporter()
    if opts.dry_run:
        lines = dry_run_lines(plan)
        if plan.target in ("kind", "staging"):
            lines += kube_fault_plan(plan)
        for line in lines:
            reporter.console.print(line, markup=False, highlight=False, soft_wrap=True)
        return 0
    run = _Run(opts, plan, reporter)
    _quiet_chaostoolkit()
    run.gate.install()
    try:
        run.reporter(
            f"run {run.run_id}: scenario {plan.loaded.scenario.name}, {len(plan.experiments)} experiments -> {run.dir}"
        )
        run.dir.mkdir(parents=True, exist_ok=True)
        run.target = run.bring_up()
        slos = [plan.loaded.scenario.slo_for(p) for p, _ in plan.experiments]
        check_server_slo(slos, run.target.endpoints().prometheus, where=str(plan.loaded.path))
        run.not_applicable = not_applicable(plan, run.target)
        if len(run.not_applicable) < len(plan.experiments):
            run.start_load(run.target)
        else:
            run.errors.append(f"no experiment of the scenario applies to target {plan.target}")
        run.experiments()
    except KeyboardInterrupt:
        run.gate.received = run.gate.received or "SIGINT"
    except ResilienceError as exc:
        run.errors.append(str(exc))
        run.reporter(f"[red]error[/red]: {exc}")
    finally:
        try:
            document = run.finish()
        finally:
            run.gate.restore()
    reporter.table(document)
    reporter(f"results: {run.dir}")
    # a signal that came once the verdict stood (while the reports were drawn) still ends the run as asked: 130
    return EXIT_INTERRUPTED if run.gate.interrupted else exit_code(document["verdict"])
