"""Charts drawn from synthetic timelines put the fault window, detection, recovery and SLOs where they belong."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from resilience.report.build import collect, experiment_requests
from resilience.report.charts import (
    failover_figure,
    failover_segments,
    integrity_figure,
    latency_figure,
    recovery_figure,
    save_figure,
    timeline_figure,
    timeline_marks,
)
from resilience.report.charts.distribution import latency_distribution_figure, phase_requests, phase_stats
from resilience.report.charts.integrity import integrity_cells
from resilience.report.charts.latency import phase_medians
from resilience.report.charts.style import COLORS
from resilience.report.events import read_request_latencies
from resilience.report.junit import experiment_checks
from resilience.report.model import Alert, Experiment, Phase, Run, load_run
from resilience.report.series import Series, read_timeline
from tests.support.synthetic_run import DEFAULT_EXPERIMENTS, write_synthetic_run

pytestmark = pytest.mark.unit


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """The synthetic run: pod-kill (passed), db-failover (failed, late, 2 lost), redis-outage (interrupted)."""
    return load_run(write_synthetic_run(tmp_path).path)


def _series(run: Run, name: str) -> Series:
    return read_timeline(run.path / name / "timeline.csv")


def _labelled(fig: Figure, axes_index: int) -> dict[str, object]:
    handles, labels = fig.axes[axes_index].get_legend_handles_labels()
    return dict(zip(labels, handles, strict=True))


def test_timeline_marks_known_answers(run: Run) -> None:
    """db-failover: fault 0..15 s, detected at +3 s, recovered at +42 s, target 30 s on the relative axis."""
    exp = run.experiments[1]
    marks = timeline_marks(exp, _series(run, "db-failover"))
    assert marks.fault == pytest.approx((0.0, 15.0))
    assert marks.detected == pytest.approx(3.0) and marks.recovered == pytest.approx(42.0)
    assert marks.target == 30.0 and marks.origin == exp.fault_start


def test_timeline_figure_draws_window_marks_and_slos(run: Run) -> None:
    """The timeline shades the fault window, draws detection/recovery lines and SLO lines, labels units."""
    exp = run.experiments[1]
    fig = timeline_figure(exp, _series(run, "db-failover"))
    assert len(fig.axes) == 4
    top = _labelled(fig, 0)
    window = top["fault window"]
    assert isinstance(window, Rectangle)
    assert window.get_x() == pytest.approx(0.0) and window.get_width() == pytest.approx(15.0)
    detected, recovered = top["detected (+3.0 s)"], top["recovered (+42.0 s)"]
    assert isinstance(detected, Line2D) and isinstance(recovered, Line2D)
    assert list(detected.get_xdata()) == [3.0, 3.0] and list(recovered.get_xdata()) == [42.0, 42.0]
    slo = top["SLO ≥ 150 req/s"]
    assert isinstance(slo, Line2D) and list(slo.get_ydata()) == [150.0, 150.0]
    errors_slo = _labelled(fig, 1)["SLO < 0.1 %"]
    assert isinstance(errors_slo, Line2D) and list(errors_slo.get_ydata()) == pytest.approx([0.1, 0.1])
    latency = _labelled(fig, 2)
    assert {"p50", "p95", "p99", "SLO p95 < 100 ms", "SLO p99 < 250 ms"} <= set(latency)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == ["throughput (req/s)", "errors (% of requests)", "latency (ms)", "sockets / in flight"]
    assert fig.axes[3].get_xlabel() == "seconds since fault start"
    assert fig.get_suptitle() == "db-failover: FAILED — recovered in 42.0 s (target 30 s)"


def test_timeline_error_rate_is_plotted_in_percent(run: Run) -> None:
    """A 5 % error rate during the fault (0.05 in the CSV) is drawn at 5 on the percentage axis."""
    fig = timeline_figure(run.experiments[1], _series(run, "db-failover"))
    line = _labelled(fig, 1)["error rate"]
    assert isinstance(line, Line2D)
    assert float(np.nanmax(np.asarray(line.get_ydata(), dtype=float))) == pytest.approx(5.0, abs=0.05)


def test_timeline_without_fault_or_latency(run: Run) -> None:
    """Without a fault start the axis counts from the first interval; all-empty latency reads "no latency data"."""
    exp = replace(run.experiments[0], fault_start=None, fault_end=None, detected_at=None, recovered_at=None)
    series = _series(run, "pod-kill")
    for column in ("p50_ms", "p95_ms", "p99_ms"):
        series.columns[column][:] = np.nan
    fig = timeline_figure(exp, series)
    assert fig.axes[3].get_xlabel() == "seconds since the first interval"
    assert "fault window" not in _labelled(fig, 0)
    assert [t.get_text() for t in fig.axes[2].texts] == ["no latency data"]


def test_recovery_figure_bars_and_colours(run: Run) -> None:
    """Bars are the recovery times (green within target, red late); no recovery is a hatched bar to the target."""
    fig = recovery_figure(run.experiments)
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert [b.get_width() for b in bars] == pytest.approx([4.5, 42.0, 20.0])
    assert [to_hex(b.get_facecolor()) for b in bars] == [COLORS["ok"], COLORS["bad"], COLORS["unknown"]]
    assert bars[2].get_hatch() == "//"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["pod-kill", "db-failover", "redis-outage"]
    assert fig.axes[0].get_xlabel() == "seconds from fault start"


def test_failover_segments_known_durations(run: Run) -> None:
    """Failover steps at 3, 9.5, 12, 18, 24 s give segments of 3, 6.5, 2.5, 6, 6 s."""
    segments = failover_segments(run.experiments[1])
    assert [s.name for s in segments] == ["detect", "new leader", "routed", "clients reconnected", "backlog delivered"]
    assert [s.duration_s for s in segments] == pytest.approx([3.0, 6.5, 2.5, 6.0, 6.0])
    assert failover_segments(run.experiments[0]) == []
    fig = failover_figure(run.experiments)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["db-failover"]
    assert "total 24.0 s" in [t.get_text().strip() for t in fig.axes[0].texts]


def test_latency_figure_phases(run: Run) -> None:
    """Per-interval p95 sits near 40 ms before the fault and near 900 ms from the fault until recovery (42 s)."""
    exp, series = run.experiments[1], _series(run, "db-failover")
    medians = phase_medians(exp, series)
    assert medians["before"] == pytest.approx(42, abs=5)
    assert medians["during"] == pytest.approx(902, abs=5)
    fig = latency_figure(exp, series)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == [
        "before the fault\n(39 intervals)",
        "fault until recovered\n(84 intervals)",
        "after recovery\n(56 intervals)",
    ]
    assert fig.axes[0].get_ylabel() == "latency per interval (ms)"


def test_integrity_cells_states(run: Run) -> None:
    """Zero counts are ok, a lost message is bad, an unmeasured experiment is unknown."""
    assert integrity_cells(run.experiments[0]) == [("5,234", "plain"), ("0", "ok"), ("0", "ok"), ("0", "ok")]
    assert integrity_cells(run.experiments[1])[1] == ("2", "bad")
    assert {state for _, state in integrity_cells(run.experiments[2])} == {"unknown"}
    fig = integrity_figure(run.experiments)
    assert fig.axes[0].get_title() == "Message integrity: acknowledged messages lost, duplicated, reordered or skipped"


def test_out_of_order_is_a_failure(run: Run) -> None:
    """Messages out of order (by id or by push) with nothing lost or duplicated fail the integrity check, red."""
    exp = run.experiments[0]
    assert exp.integrity is not None
    reordered = replace(exp, integrity=exp.integrity.model_copy(update={"out_of_order": 3, "delivery_ratio": 0.875}))
    assert reordered.integrity is not None and reordered.integrity.ok is False
    cells = integrity_cells(reordered, delivery=True)
    assert cells[3] == ("3", "bad") and cells[4] == ("87.5 %", "plain")
    fig = integrity_figure([reordered])
    assert fig.axes[0].get_title().endswith("lost, duplicated, reordered or skipped")
    assert [c.outcome for c in experiment_checks(reordered)][3] == "failed"
    pushed = replace(exp, integrity=exp.integrity.model_copy(update={"delivery_out_of_order": 2}))
    assert pushed.integrity is not None and pushed.integrity.ok is False


def test_empty_inputs_still_draw(tmp_path: Path) -> None:
    """Charts of no experiments say so instead of failing, and save as PNG."""
    for fig in (recovery_figure([]), failover_figure([]), integrity_figure([])):
        path = save_figure(fig, tmp_path / "empty.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    exp = Experiment(name="x", verdict="aborted")
    assert failover_segments(exp) == []


@pytest.mark.parametrize(
    "columns",
    [
        {"t": np.array([100.0])},
        {"t": np.array([100.0]), "throughput": np.array([1.0]), "p95_ms": np.array([0.0])},
        {"t": np.arange(90.0, 120.0), "p50_ms": np.zeros(30), "p95_ms": np.zeros(30), "error_rate": np.zeros(30)},
        {"t": np.array([], dtype=float)},
    ],
    ids=["one-row-no-metrics", "one-row", "all-zero", "empty"],
)
def test_degenerate_timelines_draw_without_warnings(columns: dict[str, np.ndarray], tmp_path: Path) -> None:
    """One interval, all-zero latency or no rows at all still draw (warnings are errors in this suite)."""
    exp = Experiment(name="x", verdict="passed", fault_start=100.0, fault_end=105.0)
    series = Series({k: np.asarray(v, dtype=float) for k, v in columns.items()})
    for figure in (timeline_figure(exp, series), latency_figure(exp, series)):
        assert save_figure(figure, tmp_path / "x.png").stat().st_size > 1000


def test_degenerate_experiments_draw_without_warnings(tmp_path: Path) -> None:
    """Experiments without fault, recovery, or with zero-length phases still draw every run-wide chart."""
    bare = Experiment(name="a", verdict="passed")
    unrecovered = Experiment(
        name="b", verdict="failed", fault_start=10.0, recovery_target_s=5, phases=(Phase(name="fault", at=10.0),)
    )
    instant = Experiment(
        name="c",
        verdict="passed",
        fault_start=10.0,
        recovery_s=0.0,
        recovery_target_s=0.0,
        phases=(Phase(name="x", at=10.0), Phase(name="y", at=10.0)),
    )
    exps = [bare, unrecovered, instant]
    assert recovery_figure(exps).axes[0].patches[1].get_width() == 5  # type: ignore[attr-defined]
    for figure in (recovery_figure(exps), failover_figure(exps), integrity_figure(exps)):
        assert save_figure(figure, tmp_path / "x.png").stat().st_size > 1000


def test_long_timeline_is_drawn_coarser_and_says_so(run: Run) -> None:
    """A timeline longer than max_points is drawn with wider steps, and the x label explains the aggregation."""
    exp, series = run.experiments[1], _series(run, "db-failover")
    fig = timeline_figure(exp, series, max_points=60)
    line = _labelled(fig, 0)["throughput"]
    assert isinstance(line, Line2D) and len(line.get_xdata()) == 60  # type: ignore[arg-type]
    assert "each step spans 1.5 s = 3 intervals of 0.5 s" in fig.axes[3].get_xlabel()
    full = timeline_figure(exp, series)
    assert full.axes[3].get_xlabel() == "seconds since fault start"


def test_request_latency_distribution_known_answers(tmp_path: Path) -> None:
    """Raw events: 20 ms outside the impact window, 800 ms inside; failed sends and deliveries are left out."""
    data = collect(write_synthetic_run(tmp_path, events=True).path)
    item = data.experiments[1]
    requests = experiment_requests(data, item)
    assert requests is not None and len(requests) == 720  # 180 intervals x 4 acked sends
    stats = phase_stats(phase_requests(item.experiment, requests))
    assert stats == {
        "before": (160, 20.0, 20.0, 20.0),
        "during": (336, 800.0, 800.0, 800.0),
        "after": (224, 20.0, 20.0, 20.0),
    }
    fig = latency_distribution_figure(item.experiment, requests)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "fault until recovered: 336 requests, p50 800 / p95 800 / p99 800 ms" in labels
    assert fig.axes[0].get_xlabel() == "request latency (ms)"


def test_events_reader_ignores_torn_and_foreign_files(tmp_path: Path) -> None:
    """A torn last record is dropped and a file without the events header is left out, not fatal."""
    synth = write_synthetic_run(tmp_path, experiments=(DEFAULT_EXPERIMENTS[0],), events=True)
    folder = synth.path / "load" / "events"
    whole = (folder / "events-synth-1.bin").read_bytes()
    (folder / "events-synth-1.bin").write_bytes(whole + b"\x00" * 7)
    (folder / "events-other-2.bin").write_bytes(b"garbage!" * 4)
    assert len(read_request_latencies(folder)) == 720


def test_timeline_draws_alert_bars_names_a_missing_alert_and_shouts_a_silent_failure(run: Run) -> None:
    """Each fired alert is a labelled bar from its firing to its resolution, coloured by its verdict in the
    alerts table (on time green, late red, not expected grey); one that did not fire is named."""
    alerts = (
        Alert(name="PostgresLeaderChanged", expected=True, within_s=30.0, fired_s=2.5, resolved_s=40.0),
        Alert(name="ChatLatencyP95High", expected=False, fired_s=4.0, resolved_s=None),
        Alert(name="PostgresNoLeader", expected=True, within_s=10.0, fired_s=None, resolved_s=None),
        Alert(name="ChatReplicaDown", expected=True, within_s=1.0, fired_s=3.0, resolved_s=None),
    )
    exp = replace(run.experiments[1], alerts=alerts, silent_failure=False)
    fig = timeline_figure(exp, _series(run, "db-failover"))
    bars = _labelled(fig, 0)
    assert isinstance(bars["alert PostgresLeaderChanged (+2.5 s, on time)"], Rectangle)
    assert to_hex(bars["alert PostgresLeaderChanged (+2.5 s, on time)"].get_facecolor()) == COLORS["ok"]
    assert to_hex(bars["alert ChatReplicaDown (+3.0 s, late)"].get_facecolor()) == COLORS["bad"]
    assert to_hex(bars["alert ChatLatencyP95High (+4.0 s, not expected)"].get_facecolor()) == COLORS["unknown"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "PostgresNoLeader: missing (did not fire)" in texts
    silent = timeline_figure(replace(exp, alerts=(), silent_failure=True), _series(run, "db-failover"))
    assert "SILENT FAILURE: the SLO broke and no alert fired" in [t.get_text() for t in silent.axes[0].texts]
