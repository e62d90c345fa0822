"""The runner waits for a steady state before every experiment's hypothesis and reads each event once."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console

import resilience.probes.slo as slo_mod
from resilience.analysis.recovery import Sample
from resilience.analysis.timeline import timeline_from_events
from resilience.load.events import Kind
from resilience.probes.slo import broken_objectives
from resilience.runner import scenario_run
from resilience.runner.plan import RunOptions, prepare
from resilience.runner.progress import Reporter
from resilience.runner.scenario_run import _Run, window_records
from resilience.slo import Slo

pytestmark = pytest.mark.unit

GAMEDAY = Path(__file__).resolve().parents[2] / "scenarios" / "gameday.yaml"


def _run(monkeypatch: pytest.MonkeyPatch, held: list[bool]) -> tuple[_Run, list[str], io.StringIO]:
    """A run of the game-day scenario whose experiments and SLO waits only record the order of calls."""
    out = io.StringIO()
    run = _Run(RunOptions(scenario=GAMEDAY), prepare(RunOptions(scenario=GAMEDAY)), Reporter(Console(file=out)))
    run.load = SimpleNamespace(alive=lambda: True, events_dir="events")
    calls: list[str] = []
    answers = iter(held)

    def fake_wait(**kwargs: Any) -> bool:
        calls.append(f"wait {kwargs['stable_s']:g}")
        return next(answers, True)

    def fake_one(plan: Any, experiment: Any) -> dict[str, Any]:
        calls.append(plan.name)
        return {"name": plan.name, "verdict": "passed"}

    monkeypatch.setattr(slo_mod, "wait_for_slo", fake_wait)
    monkeypatch.setattr(scenario_run, "_sleep", lambda *a, **k: None)
    monkeypatch.setattr(run, "one", fake_one)
    return run, calls, out


def test_steady_state_is_awaited_before_every_experiment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each experiment (not only the first) is preceded by a bounded wait for the SLO over the stabilisation window."""
    run, calls, _ = _run(monkeypatch, held=[])
    run.experiments()
    names = [p.name for p, _ in run.plan.experiments]
    assert calls == [c for name in names for c in ("wait 5", name)]
    assert all(r["steady_wait"]["held"] is True for r in run.results)
    assert {r["steady_wait"]["timeout_s"] for r in run.results} == {60.0}


def test_steady_state_timeout_is_recorded_and_the_experiment_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the wait times out the hypothesis still runs (and may fail honestly); run.json and progress say so."""
    run, calls, out = _run(monkeypatch, held=[True, True, False])
    run.experiments()
    third = run.results[2]
    assert third["name"] == "redis-outage" and third["steady_wait"]["held"] is False
    assert calls[4:6] == ["wait 5", "redis-outage"]
    assert "redis-outage: no steady state within 60 s" in out.getvalue()


def test_window_records_reads_each_record_once_across_experiments() -> None:
    """Records kept from the last experiment plus the newly appended ones give every record once, in the window."""
    first = [(float(t), 1, 1, 0, 5.0) for t in range(0, 20)]
    kept, window = window_records([], first, start=5.0, end=20.0)
    assert [r[0] for r in window] == [float(t) for t in range(5, 20)]
    appended = [(float(t), 1, 1, 0, 5.0) for t in range(20, 40)]
    kept, window = window_records(kept, appended, start=15.0, end=30.0)
    assert [r[0] for r in window] == [float(t) for t in range(15, 30)]
    assert len(kept) == len(set(kept)) == 25
    kept, window = window_records(kept, [], start=15.0, end=30.0)
    assert len(window) == len(set(window)) == 15


def test_broken_objectives_name_the_limit_and_the_measured_value() -> None:
    """A failed SLO check says which objective broke, its measured value and the limit."""
    limits = Slo(p95_ms=100, error_rate=0.001, ws_connect_success=0.99)
    samples = [Sample(t=0, throughput=72.3, error_rate=0.0, p95_ms=131.12, connect_success=0.5)]
    assert broken_objectives(samples, limits) == ["p95_ms 131.1 ms > 100 ms", "ws_connect_success 50.00% < 99.00%"]
    assert broken_objectives([Sample(t=0, throughput=10, error_rate=0.0, p95_ms=20)], limits) == []


def test_window_records_keep_websocket_connects_so_open_sockets_carry_over() -> None:
    """WebSockets opened when the load started still count as open in a later experiment's timeline."""
    connects = [(0.5 + i * 0.01, int(Kind.WS_CONNECT), 1, 0, 3.0) for i in range(10)]
    closes = [(1.0, int(Kind.WS_CLOSE), 1, 0, 0.0)]
    acks = [(float(t), int(Kind.ACK), 1, 0, 5.0) for t in range(0, 60)]
    kept, _ = window_records([], [*connects, *closes, *acks], start=20.0, end=30.0)
    kept, window = window_records(kept, [], start=40.0, end=50.0)
    assert [r for r in window if r[0] < 40.0] == [*connects, *closes]
    rows = timeline_from_events(lambda: window, resolution_s=1.0, start=40.0, end=50.0).rows
    assert {row["ws_open"] for row in rows} == {9}
