"""``resilience report``, ``compare`` and ``trend`` over synthetic run folders, as a child process: exit codes,
one-line errors, the files written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.synthetic_run import DEFAULT_EXPERIMENTS, write_synthetic_run
from tests.unit.test_compare import two_runs
from tests.unit.test_trend import nightly_results

pytestmark = pytest.mark.integration


def test_cli_report_regenerates(tmp_path: Path) -> None:
    """``resilience report RUN_DIR`` exits 0 and prints every path it wrote."""
    synth = write_synthetic_run(tmp_path, experiments=DEFAULT_EXPERIMENTS[:1])
    result = run_cli("report", str(synth.path), timeout=180)
    assert result.returncode == 0, result.stderr
    assert str(synth.path / "report.html") in result.stdout.splitlines()


def test_cli_report_bad_input_exits_3(tmp_path: Path) -> None:
    """A folder without run.json, or a malformed one, exits 3 with one line naming the file, nothing written."""
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 3 and result.stderr.startswith("error: ") and "run.json" in result.stderr
    (tmp_path / "run.json").write_text('{"experiments": [{"name": "x", "fault_start": "soon"}]}')
    result = run_cli("report", str(tmp_path))
    assert result.returncode == 3
    assert result.stderr.strip().count("\n") == 0 and "experiments[0].fault_start" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_cli_compare_exit_codes(tmp_path: Path) -> None:
    """``resilience compare`` exits 1 on a regression, 0 without, 3 for a folder without run.json."""
    (tmp_path / "runs").mkdir()
    a, b = two_runs(tmp_path / "runs")
    out = tmp_path / "cmp.md"
    regressed = run_cli("compare", str(a.path), str(b.path), "--format", "markdown", "-o", str(out))
    assert regressed.returncode == 1 and "REGRESSED" in regressed.stdout
    assert out.read_text() == regressed.stdout
    assert run_cli("compare", str(b.path), str(b.path)).returncode == 0
    bad = run_cli("compare", str(a.path), str(tmp_path))
    assert bad.returncode == 3 and "run.json" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_trend_writes_chart_and_table(tmp_path: Path) -> None:
    """``resilience trend`` writes trend.png and trend.md, warns about the broken run, exits 0."""
    (tmp_path / "results").mkdir()
    results = nightly_results(tmp_path / "results")
    out = tmp_path / "out"
    r = run_cli("trend", str(results), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "trend.png").read_bytes()[:4] == b"\x89PNG" and (out / "trend.md").is_file()
    assert "warning: skipped" in r.stderr and "Traceback" not in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_cli("trend", str(empty))
    assert r.returncode == 3 and "no readable run folder" in r.stderr
