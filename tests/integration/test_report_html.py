"""report.html opens in real headless Chromium (Debian ``chromium``) without console errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.report import write_report
from tests.support.chromium import open_page
from tests.support.synthetic_run import write_synthetic_run

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_report_opens_in_chromium_without_errors(tmp_path: Path) -> None:
    """Chromium loads the report with no console error, no exception, no network request, every image
    decoded (8 charts, raw events included); a full-page screenshot is written to test-artifacts/report.png."""
    synth = write_synthetic_run(tmp_path, events=True)
    write_report(synth.path)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    page = open_page((synth.path / "report.html").as_uri(), screenshot=shot)
    assert page.console_errors == [] and page.exceptions == []
    assert page.title == f"Resilience run {synth.run_id}: interrupted"
    assert page.images == 8 and page.broken_images == 0
    assert [u for u in page.requests if not u.startswith(("data:", "file:"))] == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
