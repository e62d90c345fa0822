"""Reports of a run: charts (PNG), report.html, summary.md, junit.xml; comparison and trend of runs.

``write_report(run_dir)`` is what the game-day runner calls at the end of a run and what
``resilience report RUN_DIR`` runs.
"""

from resilience.report.writer import write_report

__all__ = ["write_report"]
