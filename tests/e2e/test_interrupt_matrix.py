"""The interruption matrix: SIGINT, SIGTERM and SIGKILL of ``resilience run`` at every phase (before the
hypothesis, mid-fault, during the rollbacks, during the report). After at most ``resilience cleanup`` the
target is clean, the results so far are on disk and the journal says interrupted.

One real local stack serves the whole matrix; each case is one short run of tests/e2e/data/interrupt.yaml.
The table of outcomes (N/N clean) is printed and written to test-artifacts/interrupt-matrix.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from resilience.safety.fault_store import DurableLedger
from resilience.targets.local import LocalTarget

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("data") / "interrupt.yaml"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
PHASES = {
    "before-hypothesis": "steady state",
    "mid-fault": "take-redis-down",
    "rollbacks": "hold-faults: rollbacks",
    "report": None,  # run.json written, reports being drawn
}
_rows: list[dict[str, object]] = []
_outputs: list[str] = []


@dataclass
class Stack:
    target: LocalTarget
    state: Path
    results: Path


@pytest.fixture(scope="module")
def stack(local_stack: LocalTarget, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The session's local stack (2 chat replicas) and a results folder for every case; the table at the end."""
    try:
        yield Stack(local_stack, local_stack.layout.root, tmp_path_factory.mktemp("interrupt-results"))
    finally:
        _write_table()


def _write_table() -> None:
    if not _rows:
        return
    clean = sum(bool(r["clean"]) for r in _rows)
    lines = [
        f"interruption matrix: {clean}/{len(_rows)} clean",
        "",
        "| signal | phase | exit | clean before cleanup | cleanup | verdict | journal | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['signal']} | {r['phase']} | {r['exit']} | {r['clean_before']} | {r['cleanup']} | "
        f"{r['verdict']} | {r['journal']} | {r['seconds']} |"
        for r in _rows
    ]
    text = "\n".join(lines) + "\n"
    out = ROOT / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "interrupt-matrix.md").write_text(text)
    print("\n" + text)


class _Reader(threading.Thread):
    """Collects the run's output lines; ``seen`` is set once ``marker`` appeared."""

    def __init__(self, proc: subprocess.Popen[str], marker: str | None) -> None:
        super().__init__(daemon=True)
        self.proc, self.marker = proc, marker
        self.lines: list[str] = []
        self.seen = threading.Event()

    def run(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if self.marker and self.marker in line:
                self.seen.set()


def _wait_phase(reader: _Reader, proc: subprocess.Popen[str], results: Path, phase: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if PHASES[phase] is None:
            if any(results.glob(f"*-{proc.pid}/run.json")):
                return
        elif reader.seen.is_set():
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended before phase {phase}:\n{''.join(reader.lines)[-3000:]}")
        time.sleep(0.02)
    raise AssertionError(f"phase {phase} not reached in 180 s:\n{''.join(reader.lines)[-3000:]}")


def _proxies_clean(target: LocalTarget) -> bool:
    proxies = requests.get(f"{target.endpoints().toxiproxy}/proxies", timeout=10).json()
    return all(p["enabled"] and not p["toxics"] for p in proxies.values())


def _orphans(run_dir: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cwd = proc.info.get("cwd") or ""
        if "locust" in " ".join(proc.info.get("cmdline") or []) and cwd.startswith(str(run_dir)):
            found.append(proc.info["pid"])
    return found


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("sig", SIGNALS, ids=[s.name for s in SIGNALS])
def test_interrupted_run_leaves_a_clean_target_and_its_results(stack: Stack, sig: signal.Signals, phase: str) -> None:
    """After the signal and at most ``resilience cleanup``: no fault left, results on disk, marked interrupted."""
    t0 = time.monotonic()
    cmd = [
        sys.executable,
        "-m",
        "resilience",
        "run",
        str(SCENARIO),
        "--state-dir",
        str(stack.state),
        "--results-dir",
        str(stack.results),
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        start_new_session=True,
    )
    reader = _Reader(proc, PHASES[phase])
    reader.start()
    try:
        _wait_phase(reader, proc, stack.results, phase)
        os.kill(proc.pid, sig)
        proc.wait(180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        reader.join(10)
        if proc.stdout is not None:
            proc.stdout.close()
    output = "".join(reader.lines)
    _outputs.append(output)
    clean_before = _proxies_clean(stack.target) and not DurableLedger(stack.state).entries()
    done = subprocess.run(
        [sys.executable, "-m", "resilience", "cleanup", "--state-dir", str(stack.state), "--json", "--timeout", "90"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {"clean": False}
    runs = sorted(stack.results.glob(f"*-{proc.pid}"))
    run_json = runs[0] / "run.json" if runs else None
    run = json.loads(run_json.read_text()) if run_json and run_json.exists() else {}
    journal_path = runs[0] / "hold-faults" / "journal.json" if runs else None
    journal = json.loads(journal_path.read_text()) if journal_path and journal_path.exists() else {}
    marked_ok = run.get("verdict") == "interrupted" or phase == "report"
    journal_ok = phase == "before-hypothesis" or journal.get("status") in (
        ("interrupted",) if phase == "mid-fault" else ("interrupted", "completed", "failed")
    )
    row = {
        "signal": sig.name,
        "phase": phase,
        "exit": proc.returncode,
        "clean_before": clean_before,
        "cleanup": done.returncode,
        "verdict": run.get("verdict"),
        "journal": journal.get("status"),
        "seconds": round(time.monotonic() - t0, 1),
    }
    row["clean"] = bool(
        done.returncode == 0
        and report.get("clean")
        and run
        and marked_ok
        and journal_ok
        and _proxies_clean(stack.target)
        and bool(runs)
        and not _orphans(runs[0])
    )
    _rows.append(row)
    detail = f"{row}\n{done.stdout[-2000:]}{done.stderr[-2000:]}\n{output[-3000:]}"
    _outputs.append(done.stdout + done.stderr)
    assert done.returncode == 0 and report.get("clean"), detail
    assert run, f"no run.json on disk\n{detail}"
    assert marked_ok and journal_ok, detail
    assert not _orphans(runs[0]), detail
    if sig is not signal.SIGKILL:
        assert clean_before, f"the run itself must revert on {sig.name}\n{detail}"
        assert proc.returncode == 130, f"{sig.name} must end the run with exit 130 (interrupted)\n{detail}"


def test_no_secret_in_any_journal_log_or_report(stack: Stack) -> None:
    """A whole run (and every run of the matrix before it): no secret of the stack in any file or output."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "resilience",
            "-vv",
            "run",
            str(SCENARIO),
            "--state-dir",
            str(stack.state),
            "--results-dir",
            str(stack.results),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr[-3000:]
    secrets = json.loads((stack.state / "secrets.json").read_text())
    assert len(secrets) >= 6  # superuser, replication, chat_db, patroni_api, jwt, issuer
    files = [p for p in stack.results.rglob("*") if p.is_file()]
    assert any(p.name == "journal.json" for p in files) and any(p.name == "report.html" for p in files)
    leaks = [f"{p}: {name}" for p in files for name, value in secrets.items() if value.encode() in p.read_bytes()]
    outputs = [done.stdout, done.stderr, *_outputs]
    leaks += [f"output: {name}" for out in outputs for name, value in secrets.items() if value in out]
    assert not leaks, leaks
    print(f"\nsecrets grep: {len(secrets)} secrets x {len(files)} files + {len(outputs)} outputs: 0 hits")
