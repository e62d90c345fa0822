"""After a run died without a word (SIGKILL, OOM, power loss): mark what it left on disk as interrupted
and stop the load generator it left running.

A run's folder is ``<results>/<time>-<scenario>-<pid>``; an experiment folder without ``journal.json``
gets one with ``status: interrupted``, a run folder without ``run.json`` gets one with ``verdict:
interrupted`` listing the experiments found. Nothing already written is changed.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import psutil

from resilience.files import write_atomic

__all__ = ["mark_interrupted_runs", "run_dirs_of", "stop_orphan_load"]

_REASON = "the run process (pid {pid}) died without finishing (SIGKILL, crash or power loss); found by cleanup"


def run_dirs_of(results_dir: Path, pid: int) -> list[Path]:
    """The run folders created by process ``pid`` under ``results_dir``."""
    if not results_dir.is_dir():
        return []
    return sorted(p for p in results_dir.glob(f"*-{pid}") if p.is_dir())


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(doc, indent=2, default=str) + "\n")


def _experiment_dirs(run_dir: Path) -> list[Path]:
    return sorted((p for p in run_dir.iterdir() if p.is_dir() and p.name != "load"), key=lambda p: p.stat().st_mtime)


def _journal_status(exp_dir: Path) -> str:
    try:
        return str(json.loads((exp_dir / "journal.json").read_text(encoding="utf-8")).get("status", "interrupted"))
    except (OSError, ValueError, AttributeError):
        return "interrupted"


def mark_interrupted_runs(results_dir: Path, pid: int, *, started: float | None = None) -> list[Path]:
    """Mark the folders of dead run ``pid`` as interrupted; return the files written."""
    reason = _REASON.format(pid=pid)
    written: list[Path] = []
    for run_dir in run_dirs_of(results_dir, pid):
        experiments = []
        for exp_dir in _experiment_dirs(run_dir):
            journal = exp_dir / "journal.json"
            if not journal.exists():
                _write_json(
                    journal,
                    {
                        "status": "interrupted",
                        "deviated": False,
                        "interruption": reason,
                        "steady_states": {"before": None, "after": None, "during": []},
                        "run": [],
                        "rollbacks": [],
                    },
                )
                written.append(journal)
            status = _journal_status(exp_dir)
            experiments.append(
                {
                    "name": exp_dir.name,
                    "dir": exp_dir.name,
                    "verdict": "interrupted" if status == "interrupted" else status,
                }
            )
        run_json = run_dir / "run.json"
        if not run_json.exists():
            _write_json(
                run_json,
                {
                    "run_id": run_dir.name,
                    "verdict": "interrupted",
                    "interrupted_by": reason,
                    "started": started,
                    "ended": time.time(),
                    "experiments": experiments,
                    "errors": [reason],
                    "recovered_by": "resilience cleanup",
                },
            )
            written.append(run_json)
    return written


def stop_orphan_load(run_dir: Path, *, timeout_s: float = 10.0) -> list[int]:
    """Stop the Locust processes a dead run left running (their working folder is inside ``run_dir``)."""
    root = run_dir.resolve()
    victims: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = proc.info
        cmd = " ".join(info.get("cmdline") or [])
        cwd = info.get("cwd") or ""
        if "locust" in cmd and cwd and Path(cwd).resolve().is_relative_to(root):
            victims.append(proc)
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _gone, alive = psutil.wait_procs(victims, timeout=timeout_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return [p.pid for p in victims]
