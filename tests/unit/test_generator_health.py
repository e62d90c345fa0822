"""Generator health (saturation -> inconclusive), the load delivered against the load asked, and the defaults
that size a load (spawn rate, worker processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resilience.analysis.generator import (
    GeneratorSample,
    delivered_load,
    judge_generator,
    read_generator,
)
from resilience.load.launcher import default_workers, ephemeral_ports, port_warning
from resilience.load.params import RAMP_SHARE, LoadParams
from resilience.report.text import load_line
from resilience.rundoc import RunDoc

pytestmark = pytest.mark.unit


def _samples(cpus: list[float], pid: int = 1, role: str = "worker", t0: float = 100.0) -> list[GeneratorSample]:
    return [GeneratorSample(t0 + i, pid, role, cpu, 50 + i, 3.0) for i, cpu in enumerate(cpus)]


def test_busy_more_than_five_percent_of_the_window_is_saturated() -> None:
    """6 of 100 samples at >= 90 % CPU in one process: saturated, the reason names it with the figures."""
    health = judge_generator(_samples([95.0] * 6 + [40.0] * 94))
    assert health.saturated
    assert health.busy_share == pytest.approx(0.06)
    assert "worker (pid 1)" in health.reason and "6%" in health.reason


def test_busy_five_percent_or_less_is_not_saturated() -> None:
    """Exactly 5 of 100 samples busy is within the limit (more than 5 % saturates)."""
    health = judge_generator(_samples([99.0] * 5 + [10.0] * 95))
    assert not health.saturated
    assert health.reason == ""
    assert health.cpu_max == 99.0


def test_the_busiest_process_decides_and_the_window_clips() -> None:
    """Another process's idle samples do not dilute a busy one; samples outside the window are ignored."""
    busy = _samples([100.0] * 10 + [20.0] * 10, pid=2)
    idle = _samples([5.0] * 20, pid=3, role="master")
    assert judge_generator(busy + idle).saturated
    inside = judge_generator(busy + idle, start=110.0, end=119.0)
    assert not inside.saturated
    assert inside.processes == 2
    assert inside.fds_max == 69


def test_a_starved_process_with_little_cpu_is_busy_by_its_loop_lag() -> None:
    """A process at 30 % CPU whose loop woke 250 ms late in 10 of 20 samples (starved by neighbours) is
    saturated: every latency it measured carries that delay."""
    starved = [GeneratorSample(float(i), 4, "local", 30.0, 20, 250.0 if i % 2 else 2.0) for i in range(20)]
    health = judge_generator(starved)
    assert health.saturated and health.lag_max_ms == 250.0


def test_one_late_wake_up_in_a_short_run_is_not_saturation() -> None:
    """5 samples with one 150 ms late wake-up (20 %) is noise on a busy box, not a saturated generator; three
    of ten (30 %) is."""
    short = [GeneratorSample(float(i), 5, "local", 10.0, 20, 150.0 if i == 2 else 1.0) for i in range(5)]
    assert not judge_generator(short).saturated
    longer = [GeneratorSample(float(i), 5, "local", 10.0, 20, 150.0 if i < 3 else 1.0) for i in range(10)]
    assert judge_generator(longer).saturated


def test_no_samples_is_not_measured() -> None:
    """No samples: nothing is known, nothing is saturated."""
    health = judge_generator([])
    assert (health.processes, health.cpu_max, health.saturated) == (0, None, False)


def test_read_generator_skips_a_torn_line(tmp_path: Path) -> None:
    """One file per process, one JSON line per sample; a half-written last line is skipped."""
    line = {"t": 1.5, "pid": 7, "role": "local", "cpu": 12.5, "fds": 40, "lag_ms": 1.0}
    (tmp_path / "local-7.jsonl").write_text(json.dumps(line) + "\n" + '{"t": 2.5, "pid"')
    assert read_generator(tmp_path) == [GeneratorSample(1.5, 7, "local", 12.5, 40, 1.0)]
    assert read_generator(tmp_path / "missing") == []


def test_a_load_short_of_its_users_says_so_with_the_figure() -> None:
    """1,800 open of 10,000 asked is a shortfall naming both; 9,950 of 10,000 (99.5 %) is delivered."""
    short = delivered_load({"ws_open_peak": 1800, "messages_acked": 900, "span_s": 180.0}, 10_000)
    assert "1800" in short.shortfall and "10000" in short.shortfall
    assert short.messages_per_s == 5.0
    assert delivered_load({"ws_open_peak": 9950, "span_s": 1.0}, 10_000).shortfall == ""


def test_default_spawn_rate_reaches_the_users_within_the_stated_share() -> None:
    """10,000 users over 180 s start within 75 % of it (74/s); small loads keep at least 10/s; a rate
    given is kept."""
    p = LoadParams(users=10_000, duration_s=180)
    assert p.users / p.spawn_rate <= RAMP_SHARE * 180 + 0.1
    assert LoadParams(users=20, duration_s=60).spawn_rate == 10.0
    assert LoadParams(users=10_000, duration_s=180, spawn_rate=5).spawn_rate == 5.0


def test_default_workers_keep_each_process_at_2000_users() -> None:
    """Up to 2,000 users one process; 10,000 users five workers."""
    assert default_workers(2000) == 0
    assert default_workers(2001) == 2
    assert default_workers(10_000) == 5


def test_run_document_carries_the_delivered_load_and_the_generator() -> None:
    """run.json's load gains users_peak, connect success, p95, messages/s and the generator; the report
    line shows them, a saturated generator loudly."""
    doc = RunDoc.model_validate(
        {
            "verdict": "inconclusive",
            "load": {
                "users": 100,
                "users_peak": 99,
                "ws_connect_success": 1.0,
                "p95_ms": 12.5,
                "messages_per_s": 20.0,
                "messages_acked": 2000,
                "generator": {"processes": 1, "cpu_max": 100.0, "fds_max": 130, "saturated": True},
            },
        }
    )
    assert doc.load is not None and doc.load.generator is not None and doc.load.generator.saturated
    line = load_line(doc.load.model_dump(exclude_unset=True))
    assert "peak 99 open" in line and "20/s" in line and "SATURATED" in line


def test_a_load_that_may_exhaust_ephemeral_ports_is_warned_about(tmp_path: Path) -> None:
    """10,000 users fit the default 28,232 ports (a WebSocket and a token request each); 20,000 do not."""
    rng = tmp_path / "ip_local_port_range"
    rng.write_text("32768\t60999\n")
    assert ephemeral_ports(rng) == 28232
    assert port_warning(10_000, 28232) == ""
    assert "EADDRNOTAVAIL" in port_warning(20_000, 28232)
    assert ephemeral_ports(tmp_path / "missing") is None
