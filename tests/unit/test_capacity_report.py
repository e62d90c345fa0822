"""report.html gets a Capacity section with the capacity charts and the knees when capacity.json exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.capacity.result import write_capacity
from resilience.report import write_report
from resilience.report.capacity import capacity_facts
from tests.support.synthetic_run import write_synthetic_run
from tests.unit.test_capacity_result import synthetic_result

pytestmark = pytest.mark.unit


def test_report_includes_capacity_charts_and_knees(tmp_path: Path) -> None:
    """A run folder with capacity.json gets charts/capacity-*.png embedded and each condition's knee stated."""
    synth = write_synthetic_run(tmp_path)
    result = synthetic_result()
    write_capacity(result, synth.path)
    written = write_report(synth.path)
    names = {p.name for p in written}
    assert {"capacity-p95.png", "capacity-throughput.png", "capacity-knees.png", "capacity-headroom.png"} <= names
    html = (synth.path / "report.html").read_text()
    assert '<h2 id="capacity">Capacity</h2>' in html
    for cond in result.conditions:
        assert f"{cond.name}: knee" in html


def test_capacity_facts_state_interval_headroom_and_bounds() -> None:
    """Facts give 'knee N users [low-high] (3 of 3 repeats found it)', headroom against 10,000, and below-range
    knees."""
    result = synthetic_result()
    facts = dict(capacity_facts(result))
    knee = result.condition("chat-replica-down").knee
    assert knee is not None and knee.ci_low is not None and knee.ci_high is not None
    assert facts["chat-replica-down: knee"] == (
        f"knee {knee.users:,.0f} users [{knee.ci_low:,.0f}-{knee.ci_high:,.0f}] (3 of 3 repeats found it)"
    )
    assert facts["db-failover: knee"] == "knee < 250 users (the fewest measured failed)"
    assert facts["db-failover: headroom"] == "-10,000 users (0.0% of target; short of it)"
    assert facts["ladder"].startswith("250-4,000 users in 16 steps")


def test_summary_md_lists_the_knees(tmp_path: Path) -> None:
    """summary.md (what CI posts) carries the capacity facts table, knee per condition included."""
    synth = write_synthetic_run(tmp_path)
    write_capacity(synthetic_result(), synth.path)
    write_report(synth.path)
    summary = (synth.path / "summary.md").read_text()
    assert "### Capacity" in summary
    assert "| db-failover: knee | knee < 250 users (the fewest measured failed) |" in summary
