"""Verdicts from the journal and the analysis, never from ``chaos run``'s exit code (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from resilience.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK

__all__ = ["Judgement", "exit_code", "hypothesis", "judge", "overall", "problems"]

_RANK = {"passed": 0, "inconclusive": 0.5, "failed": 1, "aborted": 2, "interrupted": 3}
"""Worst wins; ``inconclusive`` (the load generator saturated) is worse than passed, not a failure."""


@dataclass(frozen=True)
class Judgement:
    """A verdict and the reasons for it, one short sentence each."""

    verdict: str
    reasons: tuple[str, ...] = field(default_factory=tuple)


def hypothesis(journal: Mapping[str, Any], when: str) -> bool | None:
    """``steady_state_met`` of the hypothesis ``before`` or ``after`` the method (None: not run)."""
    state = (journal.get("steady_states") or {}).get(when)
    if not isinstance(state, Mapping):
        return None
    met = state.get("steady_state_met")
    return None if met is None else bool(met)


def _broken_probes(journal: Mapping[str, Any], when: str) -> list[str]:
    state = (journal.get("steady_states") or {}).get(when) or {}
    return [
        str((p.get("activity") or {}).get("name"))
        for p in state.get("probes", [])
        if p.get("tolerance_met") is False or p.get("status") != "succeeded"
    ]


def _last_line(run: Mapping[str, Any]) -> str:
    exc = run.get("exception") or []
    text = exc[-1] if isinstance(exc, list) and exc else str(exc or "")
    line = text.strip().splitlines()[-1] if text.strip() else "failed"
    return line.removeprefix("chaoslib.exceptions.ActivityFailed: ")


def problems(journal: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(errors, failures): failed or cut-off actions and rollbacks (errors), failed method probes (failures)."""
    errors: list[str] = []
    failures: list[str] = []
    for section in ("run", "rollbacks"):
        for run in journal.get(section) or []:
            activity = run.get("activity") or {}
            status = run.get("status")
            if status == "succeeded":
                continue
            label = (
                f"{'rollback' if section == 'rollbacks' else activity.get('type', 'activity')} {activity.get('name')}"
            )
            detail = "cut off" if status is None else _last_line(run)
            if activity.get("type") == "probe" and section == "run":
                failures.append(f"{label}: {detail}")
            else:
                errors.append(f"{label}: {detail}")
    return errors, failures


def _failures(
    journal: Mapping[str, Any],
    *,
    recovery_s: float | None,
    recovery_target_s: float,
    fault_applied: bool,
    integrity: Mapping[str, Any] | None,
) -> list[str]:
    reasons = list(problems(journal)[1])
    if hypothesis(journal, "after") is False:
        reasons.append(f"hypothesis deviated after the fault: {', '.join(_broken_probes(journal, 'after'))}")
    if fault_applied and recovery_s is None:
        reasons.append(
            f"did not recover: the SLO never held again for the stabilisation window (target {recovery_target_s:g} s)"
        )
    elif fault_applied and recovery_s is not None and recovery_s > recovery_target_s:
        reasons.append(f"recovery took {recovery_s:.1f} s, target {recovery_target_s:g} s")
    if integrity:
        lost, dup = int(integrity.get("lost", 0) or 0), int(integrity.get("duplicated", 0) or 0)
        if lost:
            reasons.append(f"{lost} acknowledged message(s) lost")
        if dup:
            reasons.append(f"{dup} message(s) duplicated")
        for key, what in _ORDER_FAILURES:
            if count := int(integrity.get(key, 0) or 0):
                reasons.append(f"{count} {what}")
    return reasons


_ORDER_FAILURES = (
    ("out_of_order", "message(s) given an id below one acknowledged before they were sent"),
    ("delivery_out_of_order", "push(es) delivered after a higher id (a reconnect in between skips them)"),
    ("delivery_gaps", "message(s) a client never received below an id it did receive"),
)
"""Integrity counts that fail an experiment besides lost and duplicated: order and gaps (issue 17)."""


def judge(
    journal: Mapping[str, Any],
    *,
    interrupted_by: str | None,
    safeguard: Mapping[str, Any] | None,
    recovery_s: float | None,
    recovery_target_s: float,
    fault_applied: bool,
    integrity: Mapping[str, Any] | None,
    alerting: Sequence[str] = (),
    budget: Sequence[str] = (),
) -> Judgement:
    """The verdict of one experiment: interrupted > aborted > failed > passed, with every reason found.

    ``alerting``: the alerting part's failures (missing or late expected alerts, a silent failure);
    ``budget``: the error budget's (more of the period's budget used than the scenario's limit)."""
    if interrupted_by:
        return Judgement("interrupted", (f"interrupted by {interrupted_by}",))
    errors = problems(journal)[0]
    revert_error = (journal.get("resilience") or {}).get("revert_error")
    if revert_error:
        errors.append(f"revert failed: {revert_error}")
    if safeguard:
        limit = safeguard.get("limit", {})
        tripped = f"safeguard tripped: error rate above {limit.get('error_rate')} for {limit.get('for_s')} s"
        return Judgement("aborted", (f"{tripped}; faults reverted", *errors))
    if errors:
        return Judgement("aborted", tuple(errors))
    if journal.get("status") == "interrupted":
        return Judgement("aborted", ("the experiment was interrupted",))
    if hypothesis(journal, "before") is False:
        broken = ", ".join(_broken_probes(journal, "before"))
        return Judgement("failed", (f"steady state not met before the fault ({broken}): method skipped",))
    reasons = _failures(
        journal,
        recovery_s=recovery_s,
        recovery_target_s=recovery_target_s,
        fault_applied=fault_applied,
        integrity=integrity,
    )
    reasons += alerting
    reasons += budget
    return Judgement("failed" if reasons else "passed", tuple(reasons))


def overall(verdicts: Sequence[str], *, interrupted: bool = False, errored: bool = False) -> str:
    """The run's verdict: the worst of its experiments' (interrupted > aborted > failed > passed), those
    reported not_applicable left out."""
    # an experiment the target cannot run (not_applicable) neither passes nor fails the run
    worst = max((v for v in verdicts if v != "not_applicable"), key=lambda v: _RANK.get(v, 2), default="passed")
    if interrupted:
        return "interrupted"
    if errored and _RANK[worst] < _RANK["aborted"]:
        return "aborted"
    return worst


def exit_code(verdict: str) -> int:
    """DESIGN.md's exit code of ``resilience run`` for a run verdict."""
    codes = {"passed": EXIT_OK, "failed": EXIT_FAILED, "inconclusive": EXIT_FAILED}  # inconclusive: not a pass
    return {**codes, "aborted": EXIT_ABORTED, "interrupted": EXIT_INTERRUPTED}.get(verdict, EXIT_ABORTED)
