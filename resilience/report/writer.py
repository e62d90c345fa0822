"""``write_report(run_dir)``: every chart and report of a run folder, regenerated from its raw data."""

from __future__ import annotations

import logging
from pathlib import Path

from resilience.files import write_atomic
from resilience.report.build import collect
from resilience.report.html import render_html
from resilience.report.junit import render_junit
from resilience.report.render import render_charts
from resilience.report.sections import extra_sections, sections_markdown
from resilience.report.summary import render_summary

__all__ = ["write_report"]

log = logging.getLogger(__name__)


def write_report(run_dir: Path | str) -> list[Path]:
    """Write charts/*.png, report.html, summary.md and junit.xml into ``run_dir``; return every path written.

    Reads run.json and the experiments' timeline.csv only. Missing optional data is reported in the
    outputs, never an error; a missing or malformed run.json raises ConfigError.
    """
    run_dir = Path(run_dir)
    data = collect(run_dir)
    charts_dir = run_dir / "charts"
    charts = render_charts(data, charts_dir)
    sections = extra_sections(run_dir, charts_dir)
    written = [c.path for c in charts] + [p for s in sections for p in s.charts]
    written.append(write_atomic(run_dir / "report.html", render_html(data, charts, sections)))
    written.append(write_atomic(run_dir / "summary.md", render_summary(data) + sections_markdown(sections)))
    written.append(write_atomic(run_dir / "junit.xml", render_junit(data)))
    log.info("run %s: report written to %s (%d files)", data.run.run_id, run_dir, len(written))
    return written
