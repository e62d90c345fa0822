"""Verdicts come from the journal and the timeline, never from chaos run's exit code."""

from __future__ import annotations

from typing import Any

import pytest

from resilience.analysis.generator import GeneratorSample, judge_generator
from resilience.analysis.recovery import Sample
from resilience.runner.results import experiment_result, fault_window, phases
from resilience.runner.verdict import exit_code, judge, overall
from resilience.slo import Slo

pytestmark = pytest.mark.unit


def _probe(name: str, met: bool) -> dict[str, Any]:
    return {"activity": {"name": name, "type": "probe"}, "status": "succeeded", "tolerance_met": met}


def _journal(before: bool = True, after: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "status": "completed",
        "deviated": not after,
        "steady_states": {
            "before": {"steady_state_met": before, "probes": [_probe("slo-holds", before)]},
            "after": {"steady_state_met": after, "probes": [_probe("slo-holds", after)]},
        },
        "run": [{"activity": {"name": "kill", "type": "action"}, "status": "succeeded"}],
        "rollbacks": [],
        **extra,
    }


def _judge(journal: dict[str, Any], **kw: Any) -> Any:
    args: dict[str, Any] = {
        "interrupted_by": None,
        "safeguard": None,
        "recovery_s": 3.0,
        "recovery_target_s": 10.0,
        "fault_applied": True,
        "integrity": {"acked": 10, "lost": 0, "duplicated": 0, "out_of_order": 0},
    }
    args.update(kw)
    return judge(journal, **args)


def test_all_good_passes() -> None:
    """Hypothesis held before and after, recovery within target, nothing lost: passed."""
    assert _judge(_journal()).verdict == "passed"


def test_missed_recovery_target_fails_and_says_why() -> None:
    """A recovery slower than its target fails with the two figures in the reason."""
    j = _judge(_journal(), recovery_s=12.5)
    assert j.verdict == "failed"
    assert j.reasons == ("recovery took 12.5 s, target 10 s",)


def test_never_recovered_fails() -> None:
    """No full stabilisation window after the fault: failed."""
    assert "did not recover" in _judge(_journal(), recovery_s=None).reasons[0]


def test_deviation_fails_even_if_chaos_would_exit_zero() -> None:
    """The hypothesis after the method did not hold: failed, naming the probe."""
    j = _judge(_journal(after=False))
    assert j.verdict == "failed"
    assert "slo-holds" in j.reasons[0]


def test_before_hypothesis_not_met_fails() -> None:
    """chaos run exits 0 when the pre-method hypothesis fails; we fail and say the method was skipped."""
    j = _judge(_journal(before=False), fault_applied=False)
    assert j.verdict == "failed"
    assert "method skipped" in j.reasons[0]


def test_lost_messages_fail() -> None:
    """Any acknowledged message lost fails the experiment."""
    j = _judge(_journal(), integrity={"acked": 10, "lost": 2, "duplicated": 0})
    assert j.reasons == ("2 acknowledged message(s) lost",)


def test_failed_action_aborts() -> None:
    """An action that raised (fault not applied) is an error: aborted, exit 2."""
    journal = _journal()
    journal["run"][0].update(status="failed", exception=["Traceback ...\n", "FaultError: toxiproxy down\n"])
    j = _judge(journal)
    assert j.verdict == "aborted"
    assert j.reasons == ("action kill: FaultError: toxiproxy down",)


def test_failed_rollback_aborts() -> None:
    """A rollback that failed leaves the system in doubt: aborted."""
    journal = _journal(rollbacks=[{"activity": {"name": "revert", "type": "action"}, "status": "failed"}])
    assert _judge(journal).verdict == "aborted"


def test_safeguard_aborts() -> None:
    """A tripped safeguard aborts with the limit in the reason."""
    j = _judge(_journal(), safeguard={"limit": {"error_rate": 0.5, "for_s": 3}})
    assert j.verdict == "aborted"
    assert "error rate above 0.5 for 3 s" in j.reasons[0]


def test_signal_interrupts() -> None:
    """A SIGTERM is an interruption, whatever else happened."""
    assert _judge(_journal(after=False), interrupted_by="SIGTERM").verdict == "interrupted"


def test_overall_and_exit_codes() -> None:
    """The run's verdict is its worst experiment's; exit codes follow DESIGN.md."""
    assert overall(["passed", "failed"]) == "failed"
    assert overall(["passed", "aborted", "failed"]) == "aborted"
    assert overall(["passed"], interrupted=True) == "interrupted"
    assert overall(["passed"], errored=True) == "aborted"
    assert overall([]) == "passed"
    assert [exit_code(v) for v in ("passed", "failed", "aborted", "interrupted")] == [0, 1, 2, 130]


def test_fault_window_and_phases() -> None:
    """The fault window spans first start to last end; phases are in time order."""
    faults = [{"event": "start", "t": 10.0}, {"event": "end", "t": 20.0}, {"event": "start", "t": 12.0}]
    assert fault_window(faults) == (10.0, 20.0)
    assert fault_window([]) == (None, None)
    markers = [
        {"event": "method-start", "t": 9.0},
        {"event": "activity-end", "name": "wait-db-healthy", "t": 14.0},
        {"event": "method-end", "t": 15.0},
        {"event": "activity-end", "name": "slo-holds", "t": 16.0},
    ]
    names = [p["name"] for p in phases(markers, 10.0, 11.0, 13.0)]
    assert names == ["fault", "detected", "recovered", "wait-db-healthy done"]


def _pod_kill_entry(t0: float, samples: list[Sample], **extra: Any) -> dict[str, Any]:
    """A pod-kill run.json entry over 30 s from ``t0``, the fault at +5 s, recovery target 10 s."""
    return experiment_result(
        name="pod-kill",
        file="experiments/pod-kill.yaml",
        journal=_journal(),
        records={"faults": [{"event": "start", "t": t0 + 5}, {"event": "end", "t": t0 + 5}], "markers": []},
        samples=samples,
        resolution_s=1.0,
        slo=Slo(p95_ms=100, error_rate=0.001),
        slo_json={"p95_ms": 100},
        stabilisation_s=5,
        recovery_target_s=10,
        started=t0,
        ended=t0 + 30,
        integrity={"acked": 5, "lost": 0, "duplicated": 0, "out_of_order": 0},
        interrupted_by=None,
        **extra,
    )


def test_experiment_result_has_the_run_json_contract() -> None:
    """One run.json entry carries every key of the run.json contract and its extras (docs/runner.md)."""
    t0 = 1_000.0
    samples = [Sample(t=t0 + i, throughput=20, error_rate=0.5 if 6 <= i < 9 else 0.0, p95_ms=30.0) for i in range(30)]
    entry = _pod_kill_entry(t0, samples)
    for key in (
        "name", "file", "verdict", "hypothesis", "fault_start", "fault_end", "detect_s", "recovery_s",
        "recovery_target_s", "peak_p95_ms", "error_rate", "integrity", "dir", "slo", "recovery", "error_budget",
    ):  # fmt: skip
        assert key in entry
    assert entry["verdict"] == "passed"
    assert entry["recovery_s"] == 4.0
    assert entry["detect_s"] == 2.0
    assert entry["hypothesis"] == {"before": True, "during": False, "after": True}
    assert entry["recovery"]["recovered_at"] == t0 + 9


def test_an_experiment_under_a_saturated_generator_is_inconclusive() -> None:
    """The same passing experiment with the generator saturated during it is ``inconclusive``, the
    generator's reason first and its health in the entry; the run is then inconclusive, exit 1 (not a pass)."""
    t0 = 1_000.0
    samples = [Sample(t=t0 + i, throughput=20, error_rate=0.0, p95_ms=30.0) for i in range(30)]
    busy = [GeneratorSample(t0 + i, 9, "local", 99.0 if i < 5 else 20.0, 40, 1.0) for i in range(30)]
    entry = _pod_kill_entry(t0, samples, generator=judge_generator(busy, t0, t0 + 30))
    assert entry["verdict"] == "inconclusive"
    assert entry["reasons"][0].startswith("load generator saturated")
    assert entry["generator"]["saturated"] is True
    assert overall(["passed", "inconclusive"]) == "inconclusive"
    assert overall(["inconclusive", "failed"]) == "failed"
    assert exit_code("inconclusive") == 1
