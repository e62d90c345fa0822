"""The capacity section of report.html, fed by ``capacity.json`` in the run folder (issue #8).

Hook for the capacity work: ``capacity_section`` already renders the scalar figures of capacity.json
as a facts table and embeds every ``charts/capacity*.png``; draw the capacity charts in
``_capacity_charts`` (return the PNG paths it wrote) and they appear in the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from resilience.errors import ConfigError
from resilience.report.sections import Section
from resilience.report.text import flatten

__all__ = ["capacity_section"]


def _capacity_charts(data: dict[str, Any], charts_dir: Path) -> list[Path]:
    """Charts drawn from capacity.json (none yet: issue #8 adds them)."""
    del data, charts_dir
    return []


def capacity_section(run_dir: Path, charts_dir: Path) -> Section | None:
    """A "Capacity" section when ``run_dir/capacity.json`` exists, else None."""
    path = run_dir / "capacity.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top, got {type(data).__name__}")
    drawn = _capacity_charts(data, charts_dir)
    existing = sorted(p for p in charts_dir.glob("capacity*.png") if p not in drawn)
    return Section(
        id="capacity",
        title="Capacity",
        text=("Figures from capacity.json.",),
        facts=tuple(flatten(data)),
        charts=(*drawn, *existing),
    )
