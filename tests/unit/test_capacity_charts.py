"""Capacity charts draw what a planner reads: SLO line, knees, intervals, headroom against the target."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from resilience.report.charts.capacity import (
    CAPACITY_CHARTS,
    capacity_per_condition,
    headroom_vs_target,
    p95_vs_users,
    save_capacity_charts,
    throughput_vs_users,
)
from tests.unit.test_capacity_result import TRUE_KNEES, synthetic_result

pytestmark = pytest.mark.unit


def _lines(fig: Figure, ax_index: int) -> list[Line2D]:
    return list(fig.axes[ax_index].get_lines())


def test_p95_chart_has_one_panel_per_condition_with_slo_line_and_knee() -> None:
    """Every condition gets a panel titled with its name, the 100 ms SLO line and its knee line."""
    result = synthetic_result()
    fig = p95_vs_users(result)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(TRUE_KNEES)
    healthy = result.condition("healthy").knee
    assert healthy is not None
    ydata = [list(ln.get_ydata()) for ln in _lines(fig, 0)]
    xdata = [list(ln.get_xdata()) for ln in _lines(fig, 0)]
    assert [100.0, 100.0] in ydata
    assert [healthy.users, healthy.users] in xdata


def test_below_range_condition_says_so_instead_of_a_knee_line() -> None:
    """A condition failing at its lowest step shows a '< lowest step' note and no knee line."""
    fig = p95_vs_users(synthetic_result())
    panel = fig.axes[list(TRUE_KNEES).index("db-failover")]
    assert any("< 250 users" in t.get_text() for t in panel.texts)
    assert not any("knee" in str(ln.get_label()) for ln in panel.get_lines())


def test_throughput_chart_has_a_line_per_condition() -> None:
    """Throughput vs users draws one labelled line per condition with its knee in the legend."""
    fig = throughput_vs_users(synthetic_result())
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert [label.split(":")[0] for label in labels] == list(TRUE_KNEES)
    assert all("knee" in label for label in labels)


def test_capacity_chart_labels_each_knee_with_its_interval() -> None:
    """The knee bars carry 'mean [low-high]' labels when the repeats differ."""
    result = synthetic_result()
    fig = capacity_per_condition(result)
    texts = [t.get_text() for t in fig.axes[0].texts]
    spread = [
        c.knee for c in result.conditions if c.knee and c.knee.ci_low is not None and c.knee.ci_high != c.knee.ci_low
    ]
    assert spread, "the synthetic run should have at least one condition whose repeats differ"
    for knee in spread:
        assert f"{knee.users:,.0f} users [{knee.ci_low:,.0f}-{knee.ci_high:,.0f}] (3 of 3 repeats found it)" in texts


def test_headroom_chart_marks_target_and_shortfall() -> None:
    """The headroom chart draws the 100% target line and states each shortfall in users."""
    result = synthetic_result()
    fig = headroom_vs_target(result)
    ax = fig.axes[0]
    assert any(list(ln.get_xdata()) == [1.0, 1.0] for ln in ax.get_lines())
    texts = " ".join(t.get_text() for t in ax.texts)
    healthy = result.condition("healthy").knee
    assert healthy is not None
    assert f"{healthy.users / 10_000:.1%} of target ({healthy.users - 10_000:+,.0f} users)" in texts
    assert "< 250 users (the fewest measured failed) (-10,000 users)" in texts


def test_save_writes_every_chart_as_png(tmp_path: Path) -> None:
    """save_capacity_charts writes one non-empty PNG per chart into the folder."""
    paths = save_capacity_charts(synthetic_result(), tmp_path / "charts")
    assert [p.name for p in paths] == list(CAPACITY_CHARTS)
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert path.stat().st_size > 10_000


def test_charts_of_a_run_that_measured_nothing_draw_without_warnings(tmp_path: Path) -> None:
    """An aborted run (no condition measured) still gets every chart, with no matplotlib warning."""
    result = synthetic_result()
    empty = result.model_copy(
        update={
            "conditions": [
                c.model_copy(update={"repeats": [], "knee": None, "headroom": None}) for c in result.conditions
            ]
        }
    )
    assert len(save_capacity_charts(empty, tmp_path)) == len(CAPACITY_CHARTS)
