"""slo_holds on a real events file: False with the broken objective, its value and limit in the log."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from resilience.context import EVENTS_DIR
from resilience.load.events import EventWriter, Kind
from resilience.probes.slo import slo_holds, slo_report

pytestmark = pytest.mark.integration


def _write(events: Path, latency_ms: float) -> None:
    writer = EventWriter(events, name="events-t.bin")
    now = time.time()
    for i in range(200):
        writer.record(Kind.ACK, value=latency_ms, t=now - 3.5 + i * 0.01)
    writer.close()


def test_slo_holds_logs_why_it_failed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A slow window makes slo_holds False and logs 'p95_ms <measured> ms > <limit> ms' at WARNING."""
    _write(tmp_path, latency_ms=180.0)
    config = {EVENTS_DIR: str(tmp_path), "resilience_slo": {"p95_ms": 100, "error_rate": 0.001}}
    with caplog.at_level(logging.WARNING, logger="resilience.probes.slo"):
        assert slo_holds(window_s=2.0, configuration=config) is False
    assert "p95_ms 180.0 ms > 100 ms" in caplog.text
    assert slo_report(window_s=2.0, configuration=config)["why"] == ["p95_ms 180.0 ms > 100 ms"]


def test_slo_holds_without_requests_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No request in the window is no steady state, and the log says 'no requests'."""
    EventWriter(tmp_path, name="events-t.bin").close()
    with caplog.at_level(logging.WARNING, logger="resilience.probes.slo"):
        assert slo_holds(window_s=2.0, configuration={EVENTS_DIR: str(tmp_path)}) is False
    assert "no requests" in caplog.text
