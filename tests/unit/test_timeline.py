"""The timeline aggregator on synthetic events: buckets, rates, percentiles, open connections, CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from resilience.analysis.timeline import COLUMNS, build_timeline, timeline_from_events
from resilience.load.events import EventWriter, Kind

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0


def _tl(records: list[tuple[float, int, int, int, float]], **kw: float) -> list[dict[str, object]]:
    return timeline_from_events(records, **kw).rows


def test_throughput_and_error_rate_per_100ms_bucket() -> None:
    """Requests land in their 100 ms bucket; throughput is per second; error rate is failed/all."""
    records = [(T0 + 0.01 * i, Kind.ACK, 1, 0, 5.0) for i in range(10)]  # 10 in the first bucket
    records += [(T0 + 0.15, Kind.REST_SEND, 0, 503, 2.0), (T0 + 0.16, Kind.REST_HISTORY, 1, 200, 4.0)]
    rows = _tl(records)
    assert [r["t"] for r in rows] == [T0, T0 + 0.1]
    assert rows[0]["throughput"] == pytest.approx(100.0)
    assert rows[0]["error_rate"] == 0.0
    assert rows[1]["throughput"] == pytest.approx(20.0)
    assert rows[1]["error_rate"] == 0.5


def test_percentiles_from_histogram() -> None:
    """p50/p95/p99 of request latencies within a bucket, and per kind (1% histogram precision)."""
    records = [(T0 + 0.001 * i, Kind.ACK, 1, 0, float(i + 1)) for i in range(100)]
    records += [(T0 + 0.05, Kind.DELIVERY, 1, 0, 40.0)]
    row = _tl(records)[0]
    assert row["p50_ms"] == pytest.approx(50, rel=0.02)
    assert row["p95_ms"] == pytest.approx(95, rel=0.02)
    assert row["p99_ms"] == pytest.approx(99, rel=0.02)
    assert row["ack_count"] == 100
    assert row["delivery_p50_ms"] == pytest.approx(40, rel=0.02)
    assert row["rest_send_p95_ms"] is None


def test_empty_buckets_are_kept_with_no_latency() -> None:
    """A silent gap (an outage) shows as rows with zero throughput and empty percentiles, not missing rows."""
    rows = _tl([(T0, Kind.ACK, 1, 0, 1.0), (T0 + 0.55, Kind.ACK, 1, 0, 1.0)])
    assert len(rows) == 6
    assert [r["throughput"] for r in rows[1:5]] == [0.0] * 4
    assert rows[2]["p95_ms"] is None
    assert rows[2]["error_rate"] is None


def test_ws_open_connect_success_and_reconnects() -> None:
    """Open connections integrate connects and closes (including those before the window start)."""
    records = [
        (T0 - 5, Kind.WS_CONNECT, 1, 0, 3.0),  # opened before the window
        (T0 + 0.01, Kind.WS_CONNECT, 1, 0, 3.0),
        (T0 + 0.02, Kind.WS_CONNECT, 0, 503, 1.0),
        (T0 + 0.12, Kind.WS_CLOSE, 0, 1006, 0.0),
        (T0 + 0.13, Kind.RECONNECT, 1, 0, 100.0),
        (T0 + 0.25, Kind.WS_CONNECT, 1, 0, 4.0),
    ]
    rows = _tl(records, start=T0, end=T0 + 0.29)
    assert [r["ws_open"] for r in rows] == [2, 1, 2]
    assert rows[0]["connect_success"] == 0.5
    assert rows[1]["connect_success"] is None
    assert [r["reconnects"] for r in rows] == [0, 1, 0]
    assert [r["drops"] for r in rows] == [0, 1, 0]


def test_summary_over_whole_run() -> None:
    """Whole-run figures: totals, error rate, acknowledged messages, connect success, peak connections."""
    records = [(T0 + i, Kind.ACK, 1, 0, 10.0) for i in range(9)] + [(T0 + 9, Kind.ACK, 0, 0, 0.0)]
    records += [(T0, Kind.WS_CONNECT, 1, 0, 2.0), (T0, Kind.WS_CONNECT, 1, 0, 2.0)]
    summary = timeline_from_events(lambda: records, resolution_s=1.0).summary  # a function of records works too
    assert summary["requests"] == 10
    assert summary["error_rate"] == pytest.approx(0.1)
    assert summary["messages_acked"] == 9
    assert summary["ack_p50_ms"] == pytest.approx(10, rel=0.01)
    assert summary["connect_success"] == 1.0
    assert summary["ws_open_peak"] == 2


def test_csv_from_event_files(tmp_path: Path) -> None:
    """build_timeline reads event files and writes a CSV whose columns start with the contract's seven."""
    w = EventWriter(tmp_path / "events", name="events-1.bin")
    w.record(Kind.WS_CONNECT, value=2.0, t=T0)
    w.record(Kind.ACK, value=7.0, t=T0 + 0.05)
    w.close()
    path = build_timeline(tmp_path / "events").write_csv(tmp_path / "timeline.csv")
    with path.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:7] == ["t", "throughput", "error_rate", "p50_ms", "p95_ms", "p99_ms", "ws_open"]
    assert tuple(rows[0]) == COLUMNS
    assert rows[1][:3] == [str(int(T0)), "10", "0"]
    assert [float(x) for x in rows[1][3:6]] == pytest.approx([7, 7, 7], rel=0.02)
    assert rows[1][6] == "1"


def test_no_events_gives_empty_timeline(tmp_path: Path) -> None:
    """An empty events directory gives no rows and a zero summary rather than an error."""
    (tmp_path / "events").mkdir()
    timeline = build_timeline(tmp_path / "events")
    assert timeline.rows == []
    assert timeline.summary["requests"] == 0


def test_resolution_must_be_positive() -> None:
    """A zero resolution is refused."""
    with pytest.raises(ValueError, match="resolution_s"):
        timeline_from_events([(1.0, Kind.ACK, 1, 0, 1.0)], resolution_s=0)
