"""The run document, ``results/<run-id>/run.json``: one pydantic model that the runners write and the
reports read, and whose JSON Schema is ``docs/run.schema.json`` (``python -m resilience.rundoc`` prints it).

Every field is optional on read: a run interrupted early may lack keys, and a report says what is missing
rather than failing. Types are strict: a key present with the wrong type is bad input. Extra keys are
welcome (the contract grows); the ones declared here keep their meaning.

    RunDoc ── experiments: [ExperimentDoc ── hypothesis: HypothesisDoc, recovery: RecoveryDoc,
           │                                 integrity: IntegrityDoc, slo: Slo, phases: [PhaseDoc],
           │                                 anatomy: AnatomyDoc, alerts: [AlertDoc]]
           ├─ load: LoadDoc ── generator: GeneratorDoc
           ├─ integrity: IntegrityDoc      (a load-only run)
           └─ slo: Slo
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from resilience.files import write_atomic
from resilience.slo import Slo

__all__ = [
    "RUN_FILE",
    "AlertDoc",
    "AnatomyDoc",
    "ByCompletionDoc",
    "ErrorBudgetDoc",
    "ExperimentDoc",
    "GeneratorDoc",
    "HypothesisDoc",
    "IntegrityDoc",
    "LoadDoc",
    "PhaseDoc",
    "RecoveryDoc",
    "RunDoc",
    "ServerSloCheckDoc",
    "ServerSloDoc",
    "Verdict",
    "host_platform",
    "run_schema",
    "write_run",
]

RUN_FILE = "run.json"
"""The run document's file name in a run folder."""

Verdict = Literal["passed", "failed", "aborted", "interrupted", "inconclusive", "not_applicable", "unknown"]
"""A run's or an experiment's verdict (``inconclusive``: the load generator was saturated, so the figures do
not judge the service; ``not_applicable``: an experiment the target cannot run at all, skipped, never a
run's verdict; ``unknown``: not recorded)."""


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)


class HypothesisDoc(_Doc):
    """Whether the steady-state hypothesis held: before the fault, from the fault until recovery, after."""

    before: bool | None = None
    during: bool | None = None
    after: bool | None = None


class RecoveryDoc(_Doc):
    """The recovery analysis on the run clock (epoch seconds)."""

    detected_at: float | None = None
    """End of the first window that broke the SLO after the fault started."""
    recovered_at: float | None = None
    """Start of the first stabilisation window over which the SLO held again."""
    stabilisation_s: float | None = None


class IntegrityDoc(_Doc):
    """Message integrity: acknowledged messages looked up in the database afterwards."""

    acked: NonNegativeInt | None = None
    lost: NonNegativeInt | None = None
    duplicated: NonNegativeInt | None = None
    out_of_order: NonNegativeInt | None = None
    indeterminate: NonNegativeInt | None = None
    """Sends whose outcome the client never learned (not counted as lost)."""
    delivery_ratio: float | None = None
    """Share of expected WebSocket deliveries that connected clients received."""
    delivery_out_of_order: NonNegativeInt | None = None
    """Pushes a client received after a higher id (a failure)."""
    delivery_gaps: NonNegativeInt | None = None
    """Messages a client never received below an id it did receive (a failure)."""
    violations: list[str] = Field(default_factory=list)
    """The checker's own words for each problem found (may be long; reports show the first few)."""

    @property
    def ok(self) -> bool | None:
        """True when no acknowledged message was lost, duplicated, given an id out of commit order, pushed
        out of order or skipped below a received id (the runner's pass rule); None: not measured."""
        if self.lost is None or self.duplicated is None:
            return None
        return not (
            self.lost or self.duplicated or self.out_of_order or self.delivery_out_of_order or self.delivery_gaps
        )

    @property
    def clean(self) -> bool:
        """The same as ``ok`` (order and gaps are failures now, not warnings); kept for the reports."""
        return bool(self.ok)


class ByCompletionDoc(_Doc):
    """Detection and recovery with each request counted when its outcome was known (the client's view);
    the verdict counts it when it was issued (docs/analysis.md, Attribution)."""

    detect_s: float | None = None
    recovery_s: float | None = None


class PhaseDoc(_Doc):
    """One phase of a failover and when it happened: measured from the component that knows it (``leader
    lost``, ``routed``, ``first write acked``, ... see resilience/analysis/anatomy.py), or the runner's own
    steps (``source: runner``) for a fault without an anatomy."""

    name: str
    at: float
    """Epoch seconds (the run clock)."""
    at_s: float | None = None
    """Seconds from the fault start: the sum of the segments up to this phase."""
    source: str | None = None
    """Who knew it: ``dcs`` (etcd's leader key / CNPG's currentPrimary), ``lb`` (every HAProxy process / the
    -rw EndpointSlice), ``supervisor``, ``replica`` (its /readyz), ``load`` (the clients' events),
    ``fault``, ``runner``."""


class AnatomyDoc(_Doc):
    """How the measured phases add up against the measured recovery (docs/failover.md)."""

    kind: Literal["db", "replica"] | None = None
    marks_recovery: str | None = None
    """The phase that marks recovery: the last measured phase at or before the recovery."""
    sum_s: float | None = None
    """The segments summed from the fault start to that phase (its ``at_s``; null: no phase before it)."""
    recovery_s: float | None = None
    """The experiment's recovery_s (the SLO's 1 s buckets)."""
    recovery_request_s: float | None = None
    """The same recovery at request resolution: the issue time of the last bad request (failed, or slower
    than the p95 objective) in the bucket before it."""
    gap_s: float | None = None
    """recovery_s - sum_s."""
    gap_request_s: float | None = None
    """recovery_request_s - sum_s (the goal: within 0.5 s): what no measured phase explains."""
    service_back: str | None = None
    """The phase at which the service is back (``first write acked``; ``in rotation`` for a replica)."""
    service_back_s: float | None = None


class AlertDoc(_Doc):
    """One alert during an experiment: expected or not, when it fired and resolved (s from the fault start)."""

    name: str
    expected: bool
    within_s: float | None = None
    """The expected alert's deadline (null for an alert nobody expected)."""
    fired_s: float | None = None
    """When Alertmanager's firing notice reached the harness (negative: already firing before the fault;
    null: it did not fire)."""
    resolved_s: float | None = None
    """When its resolved notice arrived (null: still firing when the experiment was judged, or never fired)."""


class ErrorBudgetDoc(_Doc):
    """What one experiment used of the error budget of the scenario's availability objective and period."""

    availability: float
    """The availability objective (0.999: 99.9 % of requests succeed over the period)."""
    period_days: float
    limit: float | None = None
    """Largest share of the period's budget one experiment may use (null: not judged)."""
    requests: NonNegativeInt
    failed: NonNegativeInt
    rate_rps: float
    """The load's typical rate (median requests/s of the experiment) the period's requests are counted at."""
    outage_s: float
    """The failed requests as seconds of full outage at ``rate_rps``."""
    share: float
    """Share of the period's budget used: outage_s / ((1 - availability) x period)."""


class GeneratorDoc(_Doc):
    """The load generator's health over the run (``resilience.analysis.generator``)."""

    processes: NonNegativeInt | None = None
    """Locust processes that sampled themselves (master and workers, or the one standalone process)."""
    cpu_max: float | None = None
    """The highest one-second CPU of any of them, percent of one core."""
    fds_max: NonNegativeInt | None = None
    """The most open file descriptors any of them held (each has a hard limit of 20,000 here)."""
    lag_max_ms: float | None = None
    """The longest event-loop delay any of them saw."""
    saturated: bool | None = None
    """One process busy (CPU >= 90 %, or its event loop >= 100 ms late) in more than 5 % of the window (and
    at least 3 samples): the run is inconclusive."""
    busy_share: float | None = None
    reason: str | None = None


class ServerSloCheckDoc(_Doc):
    """One server-side objective judged at one moment."""

    value: float | None = None
    held: bool | None = None
    error: str | None = None
    """Why it could not be judged (Prometheus unreachable, no series...): it then did not hold."""


class ServerSloDoc(_Doc):
    """A server-side objective (the scenario's ``slo.promql``) just before the fault and at the end."""

    name: str
    query: str | None = None
    op: str | None = None
    value: float | None = None
    before: ServerSloCheckDoc | None = None
    after: ServerSloCheckDoc | None = None


class DeployStepDoc(_Doc):
    """One step of a deploy: a replica started, ready, serving, retired; the switch; the analysis."""

    t: float
    event: str


class MeasurementDoc(_Doc):
    """One analysis measurement (Argo Rollouts' names): the metric, when, its value, its phase."""

    metric: str
    at: float
    value: float | None = None
    phase: Literal["Successful", "Failed", "Inconclusive", "Error"]


class DeployDoc(_Doc):
    """A deploy made during the experiment: what the target's machinery did and what it cost users."""

    strategy: str
    """``rolling`` or ``blue-green``."""
    release: str
    previous: str | None = None
    """The release before the deploy (the one a rollback returns to)."""
    started: float
    finished: float
    outcome: Literal["completed", "halted", "rolled_back"]
    expected: Literal["completed", "halted", "rolled_back"] | None = None
    """The outcome the experiment needs (a different one fails it)."""
    rolled_back_by: Literal["system", "harness"] | None = None
    reason: str | None = None
    failed_requests: NonNegativeInt
    """Failed requests from the deploy's start to its end, from the load's timeline."""
    peak_p95_ms: float | None = None
    """The worst window's p95 during the deploy (None: no request)."""
    slo_broken: list[str] = Field(default_factory=list)
    """Each window of the deploy whose SLO broke (``"+3.0 s: p95_ms 977.0 ms > 100 ms"``)."""
    first_failure: float | None = None
    switched_at: float | None = None
    """When the new release took all traffic (completed deploys)."""
    rollback_started: float | None = None
    rollback_finished: float | None = None
    """When all traffic was on the previous release again."""
    time_to_rollback_s: float | None = None
    """From the first failed response (or the start) to all traffic on the previous release."""
    duration_s: float | None = None
    steps: list[DeployStepDoc] = Field(default_factory=list)
    measurements: list[MeasurementDoc] = Field(default_factory=list)


class DeployTrainDoc(_Doc):
    """Several deploys in one experiment: how many did not complete, and what each cost."""

    deploys: NonNegativeInt
    change_failure_rate: float | None = None
    failed_requests_per_deploy: list[NonNegativeInt] = Field(default_factory=list)
    failed_requests_mean: float | None = None


class ExperimentDoc(_Doc):
    """One experiment's figures and verdict."""

    name: str | None = None
    file: str | None = None
    """The experiment file, relative to the working directory of the run."""
    dir: str | None = None
    """This experiment's folder inside the run folder (timeline.csv, journal.json, faults.jsonl)."""
    verdict: Verdict | None = None
    reasons: list[str] = Field(default_factory=list)
    """Why the verdict is not ``passed``, one phrase each."""
    started: float | None = None
    ended: float | None = None
    hypothesis: HypothesisDoc | None = None
    fault_start: float | None = None
    fault_end: float | None = None
    detect_s: float | None = None
    """From the fault start to the end of the first window that broke the SLO (requests counted when issued)."""
    recovery_s: float | None = None
    """From the fault start until requests issued from then on met the SLO for the stabilisation window."""
    recovery_target_s: float | None = None
    recovery: RecoveryDoc | None = None
    by_completion: ByCompletionDoc | None = None
    """The same detection and recovery with requests counted at completion, for comparison."""
    peak_p95_ms: float | None = None
    error_rate: float | None = None
    requests: NonNegativeInt | None = None
    error_budget: ErrorBudgetDoc | None = None
    """The share of the period's error budget the experiment used (older runs: absent)."""
    slo: Slo | None = None
    integrity: IntegrityDoc | None = None
    safeguard: dict[str, Any] | None = None
    """The safeguard's breach record when it aborted the experiment."""
    journal_status: str | None = None
    phases: list[PhaseDoc] = Field(default_factory=list)
    server_slo: list[ServerSloDoc] | None = None
    """The scenario's server-side objectives (PromQL) before the fault and at the end (null: none)."""
    anatomy: AnatomyDoc | None = None
    """The measured phases against the recovery (null: the fault has no anatomy, or nothing observed)."""
    alerts: list[AlertDoc] | None = None
    """Expected alerts and every other alert active from the fault start (null: no alert receiver)."""
    silent_failure: bool | None = None
    """The SLO broke and no alert fired (a failure when the experiment expects alerts)."""
    generator: GeneratorDoc | None = None
    """The load generator's health over the experiment (saturated: the verdict is ``inconclusive``)."""
    steady_wait: dict[str, Any] | None = None
    """The bounded wait for a steady state before the hypothesis (held, waited_s, stable_s, timeout_s)."""
    deploy: DeployDoc | None = None
    """The experiment's deploy (its last one when it made several)."""
    deploys: list[DeployDoc] | None = None
    """Every deploy, when the experiment made more than one (a deploy train)."""
    deploy_train: DeployTrainDoc | None = None


class LoadDoc(_Doc):
    """The load that ran under the experiments (or alone)."""

    users: NonNegativeInt | None = None
    """Users asked for."""
    users_peak: NonNegativeInt | None = None
    """WebSocket sessions open at once, at most (the load delivered)."""
    ws_connect_success: float | None = None
    """Share of WebSocket handshakes that succeeded."""
    p95_ms: float | None = None
    """p95 latency over every request of the judged window (what the SLO judges)."""
    ack_p95_ms: float | None = None
    """p95 of WebSocket send -> ack over the judged window."""
    messages_per_s: float | None = None
    """Acknowledged messages per second over the judged window."""
    ramp_s: float | None = None
    """``resilience load`` with the steady profile: seconds from the start until the users were open (a warm-up,
    not judged); None when the whole run is judged."""
    held_s: float | None = None
    """``resilience load``: seconds of the judged window (the users held, after the ramp)."""
    ramp_generator: GeneratorDoc | None = None
    """The generator's health during the ramp (reported, not judged)."""
    workers: NonNegativeInt | None = None
    """Locust worker processes (0: one standalone process)."""
    spawn_rate: float | None = None
    generator: GeneratorDoc | None = None
    requests: NonNegativeInt | None = None
    messages_acked: NonNegativeInt | None = None
    events_dir: str | None = None
    """The raw events' folder, relative to the run folder."""


class RunDoc(_Doc):
    """A whole run: ``kind`` says what wrote it (a game day, a load alone, a capacity plan)."""

    run_id: str | None = None
    kind: Literal["gameday", "load", "capacity"] | None = None
    scenario: str | None = None
    target: str | None = None
    started: float | None = None
    ended: float | None = None
    verdict: Verdict | None = None
    reasons: list[str] = Field(default_factory=list)
    """Why a load-alone run failed, one phrase each (the broken objective with its measured value and
    limit, lost or duplicated messages); a game day gives its reasons per experiment."""
    errors: list[str] = Field(default_factory=list)
    interrupted_by: str | None = None
    """The signal that interrupted the run (SIGINT, SIGTERM), if any."""
    experiments: list[ExperimentDoc] | None = None
    load: LoadDoc | None = None
    integrity: IntegrityDoc | None = None
    slo: Slo | None = None
    environment: dict[str, Any] | None = None
    reproduce: str | None = None
    """The command that reproduces the run."""

    def to_json(self) -> str:
        """The document as written to run.json (unset fields left out, two-space indent)."""
        return self.model_dump_json(indent=2, exclude_unset=True, fallback=str) + "\n"


def write_run(run_dir: Path, document: Mapping[str, Any]) -> RunDoc:
    """Validate ``document`` against the model and write it as ``run_dir/run.json``; the validated document.

    Every runner writes through here, so what lands on disk is what the reports read; whole or not at all (a run
    killed while writing it leaves the previous document, never an empty one).
    """
    doc = RunDoc.model_validate(dict(document))
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / RUN_FILE, doc.to_json())
    return doc


def host_platform() -> str:
    """``Linux-6.1.0-x86_64``: the run's ``environment.platform`` (``platform.platform()`` would spawn
    ``uname -p``)."""
    return f"{platform.system()}-{platform.release()}-{platform.machine()}"


def run_schema() -> dict[str, Any]:
    """The JSON Schema of run.json (``docs/run.schema.json``)."""
    schema: dict[str, Any] = RunDoc.model_json_schema(mode="serialization")
    return schema


if __name__ == "__main__":
    print(json.dumps(run_schema(), indent=2))
