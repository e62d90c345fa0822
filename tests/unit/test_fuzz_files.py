"""Fuzzing the harness's inputs with hypothesis: scenario files, experiment files, CLI arguments.

Every input either passes or fails with one ConfigError/usage line naming file, line (and field); never a
traceback, never a change outside the test's temp folder.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from resilience.cli import main
from resilience.errors import ConfigError
from resilience.runner.experiments import validate_experiment
from resilience.scenario import load_scenario
from tests.support.fuzz import CASES, fast, junk, mutated

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SMOKE = yaml.safe_load((ROOT / "scenarios" / "smoke.yaml").read_text())
EXPERIMENT = yaml.safe_load((ROOT / "experiments" / "db-latency.yaml").read_text())


_LOCATED = re.compile(r"^(?P<file>[^\n]+?):(?P<line>\d+): [^\n]+$")


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    """A temp folder with the experiments the smoke scenario names (so file checks can pass)."""
    with tempfile.TemporaryDirectory(prefix="resilience-fuzz-") as d:
        root = Path(d)
        (root / "scenarios").mkdir()
        (root / "experiments").symlink_to(ROOT / "experiments")
        yield root


def _text(doc: Any, style: str) -> str:
    if style == "json":
        return json.dumps(doc, default=str)
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _check_located(exc: ConfigError, path: Path) -> None:
    match = _LOCATED.match(str(exc))
    assert match, f"error does not name file and line: {exc}"
    assert match["file"] == str(path), str(exc)
    assert int(match["line"]) >= 1


documents = st.one_of(mutated(SMOKE), st.just(SMOKE), junk)


@fast(1000)
@given(doc=documents, style=st.sampled_from(["yaml", "json"]))
def test_scenario_files(work: Path, doc: Any, style: str) -> None:
    """A mutated or junk scenario loads or fails with one ConfigError naming file:line."""
    CASES["scenario files"] += 1
    path = work / "scenarios" / "fuzz.yaml"
    path.write_text(_text(doc, style), encoding="utf-8")
    try:
        load_scenario(path)
    except ConfigError as exc:
        _check_located(exc, path)


@fast(1000)
@given(doc=st.one_of(mutated(EXPERIMENT), junk), style=st.sampled_from(["yaml", "json"]))
def test_experiment_files(work: Path, doc: Any, style: str) -> None:
    """A mutated or junk experiment validates or fails with one ConfigError naming file:line."""
    CASES["experiment files"] += 1
    path = work / "experiments-fuzz.yaml"
    path.write_text(_text(doc, style), encoding="utf-8")
    try:
        validate_experiment(path)
    except ConfigError as exc:
        _check_located(exc, path)


@fast(3000)
@given(text=st.text(max_size=300))
def test_raw_text_files(work: Path, text: str) -> None:
    """Arbitrary text (broken YAML, tabs, control characters) fails with file:line, never a traceback."""
    CASES["raw text files"] += 1
    path = work / "scenarios" / "raw.yaml"
    path.write_text(text, encoding="utf-8")
    for check in (load_scenario, validate_experiment):
        try:
            check(path)
        except ConfigError as exc:
            _check_located(exc, path)


_TOKENS = st.sampled_from(
    [
        "--target",
        "local",
        "--only",
        "pod-kill",
        "nope",
        "--dry-run",
        "--results-dir",
        "--state-dir",
        "--json",
        "--timeout",
        "0",
        "-1",
        "1e9",
        "nan",
        "--teardown",
        "--",
        "-v",
        "--help",
        "--bogus",
        "",
        " ",
        "\x00",
        "scenarios/smoke.yaml",
        "scenarios/none.yaml",
        "experiments/db-latency.yaml",
        ".",
        "/",
        "über",
    ]
) | st.text(max_size=12)
_COMMANDS = st.sampled_from(
    [["validate"], ["run", "--dry-run"], ["cleanup"], ["compare"], ["report"], ["trend"], ["status"], ["nope"], []]
)


@fast(3000)
@given(command=_COMMANDS, args=st.lists(_TOKENS, max_size=6))
def test_cli_arguments(work: Path, command: list[str], args: list[str], monkeypatch_session: Any) -> None:
    """Any argument list gives an exit code of the documented set and no traceback."""
    CASES["CLI arguments"] += 1
    argv = [*command, *args]
    if command[:1] == ["run"]:
        argv = [a for a in argv if a != "--"]  # keep --dry-run an option: a real run is not an input test
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code in (0, 1, 2, 3, 130), (argv, code, err.getvalue())
    assert "Traceback" not in err.getvalue() + out.getvalue(), argv


@pytest.fixture(scope="module")
def monkeypatch_session(work: Path) -> Iterator[None]:
    """Run the CLI from the temp folder with its state dir there: nothing outside it can change."""
    old_cwd, old_env = Path.cwd(), os.environ.get("RESILIENCE_STATE_DIR")
    os.environ["RESILIENCE_STATE_DIR"] = str(work / "state")
    os.chdir(work)
    try:
        yield None
    finally:
        os.chdir(old_cwd)
        if old_env is None:
            os.environ.pop("RESILIENCE_STATE_DIR", None)
        else:
            os.environ["RESILIENCE_STATE_DIR"] = old_env


def test_zz_fuzz_case_count() -> None:
    """The file and CLI fuzzers above ran thousands of cases (printed for the safety note)."""
    print(f"\nfuzz cases: {dict(CASES)} total {sum(CASES.values())}")
    assert sum(CASES.values()) == 0 or sum(CASES.values()) >= 1000
