"""Whole game days through the CLI on the real local stack: smoke passes, an impossible target fails,
a safeguard aborts, SIGTERM interrupts, and every fault is reverted each time.

One local stack (temp state dir, free ports) serves the module; the first run brings it up, the fixture
brings it down by its pids at the end, even on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from tests.support.local_stack import keep_artifacts

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).with_name("data")


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest) -> Iterator[dict[str, Path]]:
    """A state dir and a results dir; the stack the runs bring up is torn down afterwards.

    The state dir lives under /tmp with mode 0711: the postgres user must traverse it (pytest's tmp dirs
    are 0700). When a test of the module failed, the components' logs and the runs' results are kept in
    ``test-artifacts/`` first (the purge deletes them): a failed game day on a fresh clone can be read later.
    """
    base = Path(tempfile.mkdtemp(prefix="resilience-gameday-", dir="/tmp"))
    os.chmod(base, 0o711)  # noqa: S103 - postgres must traverse it
    dirs = {"state": base / "state", "results": base / "results"}
    failed_before = request.session.testsfailed
    try:
        yield dirs
    finally:
        if request.session.testsfailed > failed_before:
            keep_artifacts("e2e-gameday", {"logs": dirs["state"] / "logs", "results": dirs["results"]})
        try:
            if dirs["state"].exists():
                subprocess.run(
                    _cli("down", "--state-dir", str(dirs["state"]), "--purge"), timeout=180, cwd=ROOT, check=False
                )
        finally:
            shutil.rmtree(base, ignore_errors=True)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "resilience", *args]


def _cmd(scenario: Path, dirs: dict[str, Path], *extra: str) -> list[str]:
    return _cli("run", str(scenario), "--state-dir", str(dirs["state"]), "--results-dir", str(dirs["results"]), *extra)


def _run(scenario: Path, dirs: dict[str, Path], *extra: str, timeout: float = 420) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cmd(scenario, dirs, *extra), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _last_run(dirs: dict[str, Path], scenario_name: str) -> tuple[Path, dict[str, Any]]:
    runs = sorted(p for p in dirs["results"].iterdir() if f"-{scenario_name}-" in p.name)
    run_dir = runs[-1]
    return run_dir, json.loads((run_dir / "run.json").read_text())


def _no_toxics_left(dirs: dict[str, Path]) -> None:
    status = subprocess.run(
        _cli("status", "--json", "--state-dir", str(dirs["state"])),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    api = json.loads(status.stdout)["endpoints"]["toxiproxy"]
    proxies = requests.get(f"{api}/proxies", timeout=5).json()
    assert all(p["enabled"] and not p["toxics"] for p in proxies.values()), proxies


def test_smoke_scenario_passes_end_to_end(stack: dict[str, Path]) -> None:
    """The smoke scenario brings the stack up, runs three experiments under load, passes, and writes the results."""
    t0 = time.monotonic()
    r = _run(ROOT / "scenarios" / "smoke.yaml", stack)
    wall = time.monotonic() - t0
    run_dir, run = _last_run(stack, "smoke")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert run["verdict"] == "passed"
    assert [e["name"] for e in run["experiments"]] == ["pod-kill", "db-latency", "db-failover"]
    for e in run["experiments"]:
        assert e["verdict"] == "passed"
        assert e["hypothesis"]["before"] is True and e["hypothesis"]["after"] is True
        assert e["recovery_s"] is not None and e["recovery_s"] <= e["recovery_target_s"]
        assert e["integrity"]["lost"] == 0
        assert (run_dir / e["dir"] / "timeline.csv").read_text().startswith("t,throughput,error_rate,p50_ms,p95_ms")
        assert (run_dir / e["dir"] / "journal.json").is_file()
    assert run["load"]["requests"] > 0
    schema = json.loads((ROOT / "docs" / "run.schema.json").read_text())
    jsonschema.validate(run, schema)  # the documented schema holds for a real run's run.json
    _no_toxics_left(stack)
    print(f"\nsmoke wall time incl. bring-up: {wall:.1f} s; recovery: "
          + ", ".join(f"{e['name']} {e['recovery_s']} s" for e in run["experiments"]))  # fmt: skip


def test_chaos_run_works_on_its_own(stack: dict[str, Path], tmp_path: Path) -> None:
    """``chaos run experiments/pod-kill.yaml`` against the running stack: its controls start and stop the load."""
    env = {**os.environ, "RESILIENCE_STATE_DIR": str(stack["state"])}
    chaos = Path(sys.executable).with_name("chaos")
    journal = tmp_path / "journal.json"
    r = subprocess.run(
        [str(chaos), "run", "--journal-path", str(journal), str(ROOT / "experiments" / "pod-kill.yaml")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    result = json.loads(journal.read_text())
    assert result["status"] == "completed"
    assert result["steady_states"]["before"]["steady_state_met"] is True
    assert result["steady_states"]["after"]["steady_state_met"] is True
    assert list((tmp_path / "results").glob("chaos-*/load/events/events-*.bin"))


def test_impossible_recovery_target_fails_and_says_why(stack: dict[str, Path]) -> None:
    """200 ms of DB latency for 10 s cannot recover within 2 s: exit 1, and the reason names both figures."""
    r = _run(DATA / "must-fail.yaml", stack)
    _, run = _last_run(stack, "must-fail")
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    assert run["verdict"] == "failed"
    reasons = run["experiments"][0]["reasons"]
    assert any("target 2 s" in reason for reason in reasons), reasons
    assert "target 2 s" in r.stdout
    _no_toxics_left(stack)


# Component alerts have a 30 s goal (issue 14); a kill is seen at the next 1 s scrape, evaluated within 1 s
# and notified at once: measured 1.5 s on a box at load 13.
REPLICA_DOWN_ALERT_S = 30.0


def test_an_alert_that_cannot_fire_fails_the_run_and_is_named(stack: dict[str, Path]) -> None:
    """A pod kill with ChatReplicaDown and NoSuchAlert expected: exit 1, the reason names NoSuchAlert, and the
    alert that real Prometheus and Alertmanager raised is in run.json with its time to alert."""
    r = _run(DATA / "missing-alert.yaml", stack)
    _, run = _last_run(stack, "missing-alert")
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    experiment = run["experiments"][0]
    assert experiment["verdict"] == "failed"
    assert "expected alert NoSuchAlert did not fire (within 10 s)" in experiment["reasons"], experiment["reasons"]
    assert "NoSuchAlert" in r.stdout
    alerts = {a["name"]: a for a in experiment["alerts"]}
    down = alerts["ChatReplicaDown"]
    assert down["expected"] is True and down["fired_s"] is not None, alerts
    assert 0 <= down["fired_s"] <= REPLICA_DOWN_ALERT_S, alerts
    assert alerts["NoSuchAlert"]["fired_s"] is None
    print(f"\ntime to alert: ChatReplicaDown {down['fired_s']} s; others: "
          + ", ".join(f"{a['name']} {a['fired_s']} s" for a in experiment["alerts"] if not a["expected"]))  # fmt: skip
    _no_toxics_left(stack)


# The safeguard's promise: every fault reverted within 1 s of the breach (error rate above the limit for
# for_s). The guard polls every 0.2 s, the load flushes its events every 0.5 s and the revert is one call to
# the local fault proxy; measured 0.05-0.32 s. 0.5 s more absorbs scheduling noise of a shared 2-core box (a
# thread that is runnable but not running), so a correct abort never fails by milliseconds.
ABORT_BOUND_S = 1.0
ABORT_TOLERANCE_S = 0.5


def test_safeguard_aborts_and_reverts_within_a_second(stack: dict[str, Path]) -> None:
    """A breached hard limit aborts the run (exit 2) and the partition is healed within 1 s of the breach."""
    r = _run(DATA / "safeguard.yaml", stack)
    _, run = _last_run(stack, "safeguard")
    assert r.returncode == 2, r.stdout[-3000:] + r.stderr[-3000:]
    experiment = run["experiments"][0]
    assert experiment["verdict"] == "aborted"
    tripped = experiment["safeguard"]
    assert tripped["reverted"] == ["down:postgres"], tripped  # the 8 s partition was on when the limit broke
    assert tripped["revert_error"] is None
    latency = tripped["reverted_at"] - tripped["breach_at"]
    print(f"\nabort latency: breach->reverted {latency:.3f} s, "
          f"detected->reverted {tripped['reverted_at'] - tripped['detected_at']:.3f} s")  # fmt: skip
    assert latency <= ABORT_BOUND_S + ABORT_TOLERANCE_S, tripped
    _no_toxics_left(stack)


def test_sigterm_interrupts_and_still_reverts(stack: dict[str, Path]) -> None:
    """SIGTERM in the middle of a fault: exit 130, verdict interrupted, the fault reverted, nothing left running."""
    proc = subprocess.Popen(
        _cmd(ROOT / "scenarios" / "smoke.yaml", stack, "--only", "db-latency"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    out = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            out += line
            if "add-200ms-db-latency" in line or "method" in line:
                break
        time.sleep(2)
        os.kill(proc.pid, signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
        out += rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 130, out[-3000:]
    _, run = _last_run(stack, "smoke")
    assert run["verdict"] == "interrupted"
    assert run["interrupted_by"] == "SIGTERM"
    _no_toxics_left(stack)
