"""Reading a run folder: run.json into typed data, timeline.csv into columns, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from resilience.errors import ConfigError
from resilience.report.build import collect
from resilience.report.model import load_run
from resilience.report.series import Series, coarsen, read_timeline, split_phases
from tests.support.synthetic_run import STARTED, write_synthetic_run

pytestmark = pytest.mark.unit


def test_load_run_reads_known_figures(tmp_path: Path) -> None:
    """Every figure of the synthetic run.json arrives typed, with detection/recovery times derived."""
    synth = write_synthetic_run(tmp_path)
    run = load_run(synth.path)
    assert run.run_id == synth.run_id and run.verdict == "interrupted" and run.target == "local"
    assert [e.name for e in run.experiments] == ["pod-kill", "db-failover", "redis-outage"]
    failover = run.experiments[1]
    assert failover.recovery_s == 42.0 and failover.recovery_target_s == 30.0
    assert failover.recovery_met is False
    assert failover.detection_time == pytest.approx(failover.fault_start + 3.0)  # type: ignore[operator]
    assert failover.integrity is not None and failover.integrity.lost == 2 and failover.integrity.ok is False
    assert failover.phases[0].name == "fault" and len(failover.phases) == 6
    assert failover.reasons == ("recovery 42.0 s over the 30 s target", "2 acknowledged messages lost")
    assert failover.hypothesis_during is False and run.experiments[0].hypothesis_during is True
    assert run.interrupted_by == "SIGINT" and run.errors == ()
    assert failover.slo.p95_ms == 100.0 and failover.slo.error_rate == 0.001
    assert run.experiments[0].recovery_met is True
    assert run.duration_s == pytest.approx(235.0)
    assert run.missing == ()


def test_missing_optional_keys_are_noted_not_fatal(tmp_path: Path) -> None:
    """An interrupted experiment without hypothesis.after or integrity loads, and the gaps are listed."""
    synth = write_synthetic_run(tmp_path, drop_keys=("ended", "environment", "reproduce"))
    run = load_run(synth.path)
    outage = run.experiments[2]
    assert outage.hypothesis_after is None and outage.integrity is None and outage.recovery_met is None
    assert outage.missing == ("hypothesis.after", "integrity")
    assert run.missing == ("ended", "environment", "reproduce")
    assert run.duration_s is None


def test_minimal_run_json_loads(tmp_path: Path) -> None:
    """A run.json holding only a run id (a run stopped before any experiment) loads with notes."""
    (tmp_path / "run.json").write_text('{"run_id": "r1"}')
    data = collect(tmp_path)
    assert data.run.experiments == () and data.run.verdict == "unknown"
    assert any("no experiment was recorded" in n for n in data.notes)
    assert any("verdict" in n for n in data.notes)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "run.json:1: not valid JSON"),
        ("[1, 2]", "expected a JSON object at the top, got list"),
        ('{"experiments": {"a": 1}}', "experiments: expected a list"),
        ('{"experiments": [{"name": "x", "recovery_s": "fast"}]}', "experiments[0].recovery_s: expected a number"),
        ('{"experiments": [{"name": "x", "hypothesis": {"before": "yes"}}]}', "hypothesis.before: expected true"),
        ('{"experiments": [{"name": "x", "integrity": {"lost": -1}}]}', "integrity.lost: expected a non-negative"),
        ('{"experiments": [{"name": "x", "phases": [{"name": "detect"}]}]}', "phases[0]: expected an object"),
    ],
)
def test_malformed_run_json_names_file_and_field(tmp_path: Path, content: str, message: str) -> None:
    """Bad run.json content raises ConfigError naming the file and the offending field."""
    (tmp_path / "run.json").write_text(content)
    with pytest.raises(ConfigError) as info:
        load_run(tmp_path)
    assert str(tmp_path / "run.json") in str(info.value)
    assert message in str(info.value)


def test_missing_run_folder_or_file_is_config_error(tmp_path: Path) -> None:
    """A path that is not a run folder is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="not a directory"):
        load_run(tmp_path / "nope")
    with pytest.raises(ConfigError, match="no such file"):
        load_run(tmp_path)


def test_read_timeline_columns_and_empty_cells(tmp_path: Path) -> None:
    """timeline.csv reads into float columns sorted by time; empty latency cells become NaN."""
    synth = write_synthetic_run(tmp_path)
    series = read_timeline(synth.path / "pod-kill" / "timeline.csv")
    assert len(series) == 180 and series.resolution_s() == pytest.approx(0.5)
    assert series.t[0] == pytest.approx(STARTED)
    p95 = series.get("p95_ms")
    assert p95 is not None and np.isnan(p95[5]) and np.isfinite(p95[6])
    assert series.get("no_such_column") is None
    assert series.get("reconnects") is None or np.all(series.columns["reconnects"] == 0)


def test_read_timeline_rejects_garbage(tmp_path: Path) -> None:
    """A timeline without a t column or with a non-number cell is a ConfigError with file and line."""
    path = tmp_path / "timeline.csv"
    path.write_text("time,throughput\n1,2\n")
    with pytest.raises(ConfigError, match=r"timeline.csv:1: no 't' column"):
        read_timeline(path)
    path.write_text("t,throughput\n1,2\n2,lots\n")
    with pytest.raises(ConfigError, match=r"timeline.csv:3: column throughput: not a number: 'lots'"):
        read_timeline(path)


def test_split_phases_counts_intervals(tmp_path: Path) -> None:
    """Intervals split at fault start and end: 20 s before, 15 s during, the rest after (0.5 s intervals)."""
    synth = write_synthetic_run(tmp_path)
    exp = load_run(synth.path).experiments[1]
    series = read_timeline(synth.path / "db-failover" / "timeline.csv")
    parts = split_phases(series, "throughput", exp.fault_start, exp.fault_end)
    assert {k: v.size for k, v in parts.items()} == {"before": 40, "during": 30, "after": 110}
    no_fault = split_phases(series, "throughput", None, None)
    assert no_fault["before"].size == 180 and no_fault["during"].size == 0


def test_collect_notes_missing_timeline_and_uses_run_level_timeline(tmp_path: Path) -> None:
    """An experiment without its own timeline uses the run-level timeline.csv around its fault, and says so."""
    synth = write_synthetic_run(tmp_path)
    data = collect(synth.path)
    outage = data.experiments[2]
    assert outage.series is None
    assert any("no redis-outage/timeline.csv" in n for n in outage.notes)
    shared = (synth.path / "pod-kill" / "timeline.csv").read_text()
    (synth.path / "timeline.csv").write_text(shared)
    run = json.loads((synth.path / "run.json").read_text())
    run["experiments"][2]["fault_start"] = STARTED + 30
    run["experiments"][2]["fault_end"] = STARTED + 40
    (synth.path / "run.json").write_text(json.dumps(run))
    outage = collect(synth.path).experiments[2]
    assert outage.series is not None and len(outage.series) > 0
    assert any("run-level timeline.csv" in n for n in outage.notes)


def test_coarsen_known_answers() -> None:
    """100 intervals of 0.1 s coarsened to 20: rates from sums, worst latency, fewest WebSockets."""
    t = 1_790_000_000.0 + np.arange(100) * 0.1
    series = Series(
        {
            "t": t,
            "throughput": np.full(100, 40.0),
            "requests": np.full(100, 4.0),
            "errors": np.r_[np.zeros(50), np.ones(50)],
            "error_rate": np.r_[np.zeros(50), np.full(50, 0.25)],
            "p95_ms": np.arange(100.0),
            "ws_open": np.r_[np.full(32, 20.0), np.full(68, 13.0)],
        }
    )
    coarse, factor = coarsen(series, 20)
    assert factor == 5 and len(coarse) == 20
    assert coarse.t[1] - coarse.t[0] == pytest.approx(0.5)
    assert coarse.columns["throughput"] == pytest.approx(np.full(20, 40.0))
    assert coarse.columns["error_rate"][[0, -1]] == pytest.approx([0.0, 0.25])
    assert coarse.columns["p95_ms"][:3] == pytest.approx([4.0, 9.0, 14.0])
    assert list(coarse.columns["ws_open"][5:8]) == [20.0, 13.0, 13.0]
    same, one = coarsen(series, 500)
    assert one == 1 and same is series
